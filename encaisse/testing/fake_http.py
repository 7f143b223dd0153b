"""A local HTTP server for the fake provider APIs the adapters are tested against.

Bound to 127.0.0.1 on a free port, served from a daemon thread, stopped by
the fixture that started it. The fakes keep their protocol and state; this
only spares each of them the same start/stop/address code and, through
FakeHandler, the same way of answering or dropping a connection.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHandler(BaseHTTPRequestHandler):
    """A quiet keep-alive handler that answers in one call or drops the connection, as a failing server does."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        # The client may have given up waiting (a stall): the request was handled all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True
        self.connection.close()


class LocalServer:
    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None

    def start(self, handler: type[BaseHTTPRequestHandler], **attributes: object) -> None:
        """Serve with `handler`; `attributes` (e.g. the fake it reads, ogone=fake) are set on a subclass of it."""
        if attributes:
            handler = type(handler.__name__, (handler,), attributes)
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
