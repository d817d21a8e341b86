"""The collector's one way out by e-mail: SMTP to the configured relay, with STARTTLS unless told
otherwise and a login when a user is set. Alert mails (collector.alerts.mail) and the scheduled
reports (collector.reports.dispatch) both send through it; what a message says is theirs."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from collector.settings import Settings

TIMEOUT_S = 20.0  # each SMTP step; a relay that hangs fails the attempt, which is retried


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    sender: str
    starttls: bool = True
    user: str = ""
    password_file: Path | None = None  # read at each send, never kept or logged
    cafile: Path | None = None  # a private CA (an internal relay's certificate); else the system's

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport | None:
        """The relay of RATING_ALERT_SMTP_* (the collector's, for alerts and reports); None without a host."""
        if not settings.alert_smtp_host:
            return None
        return cls(settings.alert_smtp_host, settings.alert_smtp_port, settings.alert_mail_from,
                   settings.alert_smtp_starttls, settings.alert_smtp_user, settings.alert_smtp_password_file,
                   settings.alert_smtp_cafile)

    def send(self, message: EmailMessage, recipients: Sequence[str] | None = None) -> None:
        """Send one message (From set to the sender when it has none); raises on any failure."""
        if "From" not in message:
            message["From"] = self.sender
        with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                smtp.ehlo()
            if self.user:
                password = self.password_file.read_text(encoding="utf-8").strip() if self.password_file else ""
                smtp.login(self.user, password)
            smtp.send_message(message, to_addrs=list(recipients) if recipients is not None else None)
