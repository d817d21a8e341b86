"""A real SMTP server for the tests (aiosmtpd, STARTTLS required, on a port the system gives) and
the mailbox it fills, for the alert mails and the scheduled reports alike."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller


class Inbox:
    """aiosmtpd handler: keeps what it accepts; while `failing`, answers 451 (try again later)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.failing = False
        self.refused = 0

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        if self.failing:
            self.refused += 1
            return "451 4.3.0 mailbox busy, try again later"
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=policy.default))
        message["X-Over-TLS"] = "yes" if session.ssl else "no"
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"


class PortZeroController(Controller):
    """aiosmtpd's Controller on a port the system gives: the socket is bound first, then served."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self._socket.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._socket, ssl=self.ssl_context)


def make_certificate(pem: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 (cert and key in one PEM), made with openssl."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(pem), "-out", str(pem)],
                   check=True, capture_output=True)
    return pem


@contextmanager
def running_smtp_server(certificate: Path) -> Iterator[tuple[Inbox, int]]:
    """(the mailbox, the port) of an SMTP server that requires STARTTLS, until the block ends."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate)
    inbox = Inbox()
    controller = PortZeroController(inbox, tls_context=context, require_starttls=True)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


class Clock:
    """A clock the test sets: services take `clock` and read the time from it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
