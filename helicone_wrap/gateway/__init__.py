"""A local Helicone-compatible gateway: OpenAI proxy, request log and REST API in one server.

It plays both ``oai.helicone.ai`` (proxying OpenAI calls, or answering them with a
deterministic offline model) and ``api.helicone.ai`` (the REST subset that
``helicone_wrap`` uses: properties, feedback, scores, request and session queries).
Needs the ``gateway`` extra: ``pip install 'helicone-wrap[gateway]'``.

Usage::

    from helicone_wrap.gateway import GatewayServer

    with GatewayServer() as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-local")
        ...

Modules: :mod:`.headers` and :mod:`.sql` are pure (Helicone header rules, FilterNode
compiler); :mod:`.offline` is the offline model; :mod:`.proxy` and :mod:`.rest` serve the
two halves; :mod:`.store` is the SQLite write-behind log; :mod:`.faults` injects REST
failures; :mod:`.app` wires routes; :mod:`.server` runs it all.
"""

from __future__ import annotations

from .faults import FaultPlan
from .server import GatewayServer, bind, serve
from .store import LogRow, Store

__all__ = ["FaultPlan", "GatewayServer", "LogRow", "Store", "bind", "serve"]
