"""Alerts by e-mail: SMTP, with STARTTLS unless told otherwise, and a login when a user is set."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from collector.clock import local_time

TIMEOUT_S = 20.0
RULE_NAMES = {
    "unhappy_window": "Nhiều đánh giá không hài lòng / Unsatisfied ratings",
    "day_rate": "Tỷ lệ hài lòng trong ngày thấp / Low satisfaction today",
    "suppressed_burst": "Bấm nút bất thường / Button misuse",
    "box_silent": "Thiết bị im lặng / Box silent",
    "box_offline": "Thiết bị mất kết nối / Box offline",
    "outbox_growing": "Thiết bị tồn lượt bấm / Box outbox growing",
}


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = True
    user: str = ""
    password_file: Path | None = None
    cafile: Path | None = None  # a private CA (an internal relay's certificate); else the system's
    tz_name: str = "Asia/Ho_Chi_Minh"  # times are read by people at the center: shown in its zone

    def _shown(self, utc_text: str) -> str:
        moment = local_time(datetime.fromisoformat(utc_text), self.tz_name)
        return f"{moment:%d/%m/%Y %H:%M} ({self.tz_name})"

    def message(self, event: dict[str, Any]) -> EmailMessage:
        mail = EmailMessage()
        what = "Đã hết / Cleared" if event["event"] == "cleared" else "Cảnh báo / Alert"
        mail["Subject"] = f"[{what}] {RULE_NAMES.get(event['rule'], event['rule'])}: {event['subject']}"
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        lines = [event["message"], "", f"Lúc / fired at: {self._shown(event['fired_at'])}"]
        if event["cleared_at"]:
            lines.append(f"Hết lúc / cleared at: {self._shown(event['cleared_at'])}")
        lines.append(f"alert #{event['id']}, rule {event['rule']}")
        mail.set_content("\n".join(lines))
        return mail

    def send(self, event: dict[str, Any]) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                smtp.ehlo()
            if self.user:
                password = self.password_file.read_text(encoding="utf-8").strip() if self.password_file else ""
                smtp.login(self.user, password)
            smtp.send_message(self.message(event))
