"""The heading and signer's block of a report: a Vietnamese administrative document's (issuing body,
national title and motto, number and symbol, place and date, recipients, signer), from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from collector.clock import local_day, utc_now
from collector.settings import Settings

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December")


@dataclass(frozen=True)
class Heading:
    governing_body: str
    issuing_body: str
    symbol: str
    place: str
    issued: date  # the local day the report is made
    signer_title: str
    signer_name: str
    recipients: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings, issued: date | None = None) -> Heading:
        return cls(
            governing_body=settings.report_governing_body,
            issuing_body=settings.report_issuing_body,
            symbol=settings.report_symbol,
            place=settings.report_place,
            issued=issued or local_day(utc_now(), settings.timezone),
            signer_title=settings.report_signer_title,
            signer_name=settings.report_signer_name,
            recipients=tuple(part.strip() for part in settings.report_recipients.split(";") if part.strip()),
        )

    def place_and_date(self, lang: str) -> str:
        """'Thủ Dầu Một, ngày 02 tháng 12 năm 2026' ('..., ngày ...' without a place)."""
        place = self.place or "......"
        day = self.issued
        if lang == "vi":
            # Decree 30/2020: a zero before days below 10 and months below 3 (not every month)
            month = f"{day.month:02d}" if day.month < 3 else str(day.month)
            return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"
        return f"{place}, {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
