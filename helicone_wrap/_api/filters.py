"""Build Helicone filters in Python: ``F.latency >= 100``, ``F.property("environment") == "prod"``.

A comparison makes one **leaf** holding exactly one condition, because Helicone reads only the
first key of every object (HELICONE.md §5.2); ``&`` and ``|`` join two filters into a binary
branch ``{"left", "operator", "right"}``. So a range is two leaves::

    from helicone_wrap import F

    slow_prod = (F.latency >= 1000) & (F.property("environment") == "prod")
    slow_prod.to_node()
    # {"left": {"request_response_rmt": {"latency": {"gte": 1000}}},
    #  "operator": "and",
    #  "right": {"request_response_rmt": {"properties": {"environment": {"equals": "prod"}}}}}

Rules worth knowing:

- Property keys are lowercased (Helicone lowercases header-set keys) unless they start with
  ``Helicone-``, exactly as :func:`helicone_wrap.enrich` does.
- A non-ASCII text value is stored by helicone_wrap in encoded form (``utf-8''Caf%C3%A9``),
  whether a header or ``enrich()`` set it, so ``== "Café"`` and ``.contains("Café")`` match that
  form; they match the raw form too (``raw | encoded``), which other tools may have written.
- ``== None`` / ``!= None`` become Helicone's ``"null"`` (``IS NULL`` / ``IS NOT NULL``).
- ``F.score("grounded") == True`` looks at the key ``grounded-hcone-bool``, where Helicone keeps
  boolean scores; ``F.feedback == True`` looks at the ``helicone-score-feedback`` score (1 or 0).
- Timestamps take a ``datetime`` (naive ones are local time) or an ISO-8601 string.
- ``F.cost`` is in USD; Helicone multiplies it by 1e9 into a 32-bit parameter, so costs of
  $2.15 and more overflow on Helicone's side.
- Python's ``and``/``or``/``not`` and chained comparisons (``1 < F.latency < 5``) cannot be
  overloaded; they raise :class:`HeliconeValidationError` instead of silently dropping a condition.

:func:`compile_filter` accepts a filter, a raw FilterNode dict (passed through unchanged),
``"all"`` or ``None`` (``"all"``).

This module is the public face; the tree (``Filter``, ``&``/``|``, :func:`compile_filter`) is in
:mod:`.filtertree`, the columns and ``F`` are in :mod:`.columns`.
"""

from __future__ import annotations

from .columns import Column, F
from .filtertree import Filter, FilterLike, FilterNode, all_of, any_of, compile_filter

__all__ = ["F", "Column", "Filter", "FilterLike", "FilterNode", "all_of", "any_of", "compile_filter"]
