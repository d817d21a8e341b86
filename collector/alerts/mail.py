"""Alerts by e-mail: what an alert mail says; it goes out through the collector's SMTP relay
(collector.mail)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from collector.clock import local_time
from collector.mail import SmtpTransport

RULE_NAMES = {
    "unhappy_window": "Nhiều đánh giá không hài lòng / Unsatisfied ratings",
    "day_rate": "Tỷ lệ hài lòng trong ngày thấp / Low satisfaction today",
    "suppressed_burst": "Bấm nút bất thường / Button misuse",
    "box_silent": "Thiết bị im lặng / Box silent",
    "box_offline": "Thiết bị mất kết nối / Box offline",
    "outbox_growing": "Thiết bị tồn lượt bấm / Box outbox growing",
    "sequence_gap": "Lượt bấm chưa về máy chủ / Presses never stored",
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

    @property
    def transport(self) -> SmtpTransport:
        return SmtpTransport(self.host, self.port, self.sender, self.starttls, self.user, self.password_file,
                             self.cafile)

    def send(self, event: dict[str, Any]) -> None:
        self.transport.send(self.message(event))
