"""The read-back side: the typed Helicone REST API and what it returns.

- :mod:`.wire`: everything without I/O (argument checks, request builders, answer parsing),
  shared by both clients and by the background delivery worker;
- :mod:`.client`: ``HeliconeAPI`` and ``AsyncHeliconeAPI`` side by side;
- :mod:`.filters`: the filter builder; :mod:`.rows`: typed rows; :mod:`.sessiontree`: session
  trees; :mod:`.render`: rich tables and trees for the CLI (imported only by the CLI).
"""

from __future__ import annotations

from .client import AsyncHeliconeAPI, HeliconeAPI
from .wire import (
    KIND_FEEDBACK as KIND_FEEDBACK,
    KIND_LOG as KIND_LOG,
    KIND_PROPERTY as KIND_PROPERTY,
    KIND_SCORE as KIND_SCORE,
    LOG_PATH as LOG_PATH,
    MAX_LIMIT as MAX_LIMIT,
    NOT_FOUND_TEXT as NOT_FOUND_TEXT,
    TREE_CAP as TREE_CAP,
    USER_AGENT as USER_AGENT,
    ApiRequest as ApiRequest,
    api_error as api_error,
    build_add_property as build_add_property,
    build_count as build_count,
    build_feedback as build_feedback,
    build_get as build_get,
    build_query as build_query,
    build_score as build_score,
    build_session_count as build_session_count,
    build_session_query as build_session_query,
    build_tree_page as build_tree_page,
    build_write as build_write,
    check_property as check_property,
    check_rating as check_rating,
    check_request_id as check_request_id,
    check_scores as check_scores,
    connection_error as connection_error,
    decode_body as decode_body,
    error_message as error_message,
    local_timezone_difference as local_timezone_difference,
    log_record_bytes as log_record_bytes,
    parse_response as parse_response,
    retry_after as retry_after,
    session_body as session_body,
    sort_spec as sort_spec,
)

__all__ = ["ApiRequest", "AsyncHeliconeAPI", "HeliconeAPI", "parse_response"]
