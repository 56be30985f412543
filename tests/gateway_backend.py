"""Run the wrapper's behaviour suite against the local gateway: the same questions the echo
server answers ("what did the gateway receive for this id?"), answered from the gateway's own
SQLite log, the way Helicone stores it.

The log keeps what Helicone keeps: properties (lowercased keys), the session headers as the
properties ``Helicone-Session-*``, the user id and the request id. It does not keep the auth
header, so ``records_auth`` is False and auth assertions run on the echo server only.
"""

from __future__ import annotations

from typing import Any

from helicone_wrap.gateway import GatewayServer
from helicone_wrap.gateway.sql import compile_filter, compile_sort

from .echo_server import Seen


class GatewayBackend:
    records_auth = False

    def __init__(self) -> None:
        self.server = GatewayServer(port=0, db=":memory:").start()
        self.url = self.server.url
        self._last_count = 0

    def stop(self) -> None:
        self.server.stop()

    def _seen(self, row: dict[str, Any]) -> Seen:
        headers: dict[str, str] = {"helicone-request-id": row["request_id"]}
        for key, value in (row.get("properties") or {}).items():
            if key.startswith("Helicone-"):
                headers[key.lower()] = value
            else:
                headers[f"helicone-property-{key}"] = value
        if row.get("request_user_id"):
            headers["helicone-user-id"] = row["request_user_id"]
        return Seen("POST", row.get("request_path") or "", headers, None, row["request_id"])

    def by_id(self, helicone_id: str) -> Seen:
        row = self.server.store.wait_for(helicone_id, timeout=5)
        if row is None:
            raise KeyError(helicone_id)
        return self._seen(row)

    def last(self) -> Seen:
        self.server.store.flush(5)
        rows = self.server.store.query_requests(compile_filter("all"), compile_sort(None), 1, 0)  # newest first
        return self._seen(rows[0])
