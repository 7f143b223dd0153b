"""A mail server that can be taken down: a local SMTP listener that answers 421 to everyone.

Delivery is tested through Django's real SMTP backend talking to it, so no
Encaisse function is patched; `mail_server.up()` switches back to the test
outbox (locmem) to let the retry go through.
"""

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

LOCMEM = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


@pytest.fixture
def refusing_smtp_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"421 4.3.2 Service not available, closing transmission channel\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


class MailServer:
    def __init__(self, settings: Any, port: int) -> None:
        self.settings = settings
        self.port = port

    def down(self) -> None:
        self.settings.MAILERS = {"default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": self.port, "timeout": 5, "use_tls": False},
        }}

    def up(self) -> None:
        self.settings.MAILERS = LOCMEM


@pytest.fixture
def mail_server(settings: Any, refusing_smtp_port: int) -> MailServer:
    server = MailServer(settings, refusing_smtp_port)
    server.up()
    return server
