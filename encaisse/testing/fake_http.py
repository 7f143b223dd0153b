"""A local HTTP server for the fake provider APIs the adapters are tested against.

Bound to 127.0.0.1 on a free port, served from a daemon thread, stopped by
the fixture that started it. The fakes keep their protocol and state; this
only spares each of them the same start/stop/address code.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer:
    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    def start(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def address(self, path: str = "") -> str:
        """The server's URL, with `path` appended (e.g. "/tpa")."""
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
