"""The collector's one settings object, read from RATING_* environment variables."""

from __future__ import annotations

import ipaddress
from datetime import time
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.alerts.rules import RuleBook
from collector.office_hours import OfficeHours
from collector.rejections import KEPT_DEFAULT
from collector.report_recipients import parse_recipients


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RATING_", extra="ignore")

    data_dir: Path = Path("./data")
    # Default: SQLite at {data_dir}/collector.sqlite3. PostgreSQL: postgresql+psycopg://user@host:port/db
    database_url: str = ""
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str = "collector"
    # The password is read from this file, never from the environment, and never logged.
    mqtt_password_file: Path | None = None
    mqtt_client_id: str = "collector-1"
    # How many changes the broker may hold before writing its persistence file (collector.broker).
    broker_autosave_changes: int = Field(default=1, ge=1)
    # When set, subscribe through $share/<group>/ so several collectors split the load.
    share_group: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Comma list of addresses or CIDRs of reverse proxies whose X-Forwarded-For / -Proto is believed.
    # Empty (the default): nobody's; the client address is the TCP peer, whatever a header says.
    trusted_proxies: str = ""
    # The largest request body taken (bytes); larger ones get 413 before they are read. The largest a
    # route takes today is one registry entry (< 1 KB). Logins and bodies without credentials get less.
    http_body_max: int = Field(default=1024 * 1024, ge=1024)
    timezone: str = "Asia/Ho_Chi_Minh"
    clock_beacon_s: float = 5.0
    batch_max: int = 500
    # 0: commit what has arrived at once (under load, batches grow by themselves while a commit runs);
    # waiting for more only adds latency at the nominal load.
    batch_wait_ms: int = 0
    # /healthz says degraded when messages have waited this long with nothing committed.
    ingest_stall_s: float = Field(default=30.0, gt=0)
    # Copies of rejected messages kept per box and reason; every rejection is counted regardless.
    rejected_kept: int = Field(default=KEPT_DEFAULT, ge=0)
    # --- alerts for supervisors (collector/alerts; collector/README.md, Alerts) ---
    # Local office hours: alerts are quiet outside them, and a box's silence is counted in them.
    office_hours: str = "07:30-11:30,13:30-17:00"
    office_days: str = "mon,tue,wed,thu,fri"
    alerts_enabled: bool = True
    # JSON: the rules' thresholds, by scope: {"*": {...}, "site:HCM": {...}, "department:TP": {...},
    # "counter:17": {...}}; the narrowest scope wins, field by field (collector.alerts.rules.Thresholds).
    alert_rules: str = ""
    alert_tick_s: float = Field(default=15.0, gt=0)  # how often time-based rules are evaluated
    alert_retry_s: float = Field(default=10.0, gt=0)  # the first retry of a failed delivery; doubles to 10 min
    alert_smtp_host: str = ""  # empty: no e-mail
    alert_smtp_port: int = 587
    alert_smtp_starttls: bool = True
    alert_smtp_user: str = ""
    alert_smtp_password_file: Path | None = None  # read from the file, never from the environment
    alert_smtp_cafile: Path | None = None  # a private CA for the relay's certificate; else the system's
    alert_mail_from: str = "rating-collector@localhost"
    alert_mail_to: str = ""  # comma list of recipients
    alert_webhook_url: str = ""  # empty: no webhook
    alert_webhook_secret_file: Path | None = None  # the HMAC-SHA256 key, read from the file
    alert_mqtt: bool = True  # publish on rating/alerts/<site> (QoS 1)

    # --- over-the-air updates (collector/releases.py, collector/rollouts.py; collector/README.md, OTA) ---
    releases_dir: Path | None = None  # default {data_dir}/releases
    # What boxes are told to fetch from, e.g. http://10.0.0.5:8000/releases/ (plain HTTP: a box checks
    # the signature and hashes). Empty: the address the technician reached the API at, at the rollout's start.
    releases_url: str = ""
    rollout_tick_s: float = Field(default=5.0, gt=0)  # how often rollouts look at the boxes' versions
    rollout_resend_s: float = Field(default=120.0, gt=0)  # a box that has not moved is told again after this
    # A box not on the version this long after it was first told: failed (an offline box is not told).
    rollout_timeout_s: float = Field(default=1200.0, gt=0)
    rollout_soak_s: float = Field(default=300.0, ge=0)  # canaries run the new version this long before --all

    # --- the heading and signer of a report, as a Vietnamese administrative document (collector/reports) ---
    report_governing_body: str = "UBND TỈNH"  # e.g. "UBND TỈNH BÌNH DƯƠNG"
    report_issuing_body: str = "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG"
    report_symbol: str = "BC-TTPVHCC"  # printed "Số: ..../BC-TTPVHCC"; the number is given when it is issued
    report_place: str = ""  # the place before the date, e.g. "Thủ Dầu Một"; empty: dots to fill in
    report_signer_title: str = "GIÁM ĐỐC"
    report_signer_name: str = ""  # empty: the name is written by hand under the signature
    report_recipients: str = "Chủ tịch UBND tỉnh (để báo cáo);Các sở, ban, ngành;Lưu: VT"  # ';'-separated
    # --- the weekly and monthly reports by e-mail (collector/reports/dispatch.py; collector/README.md) ---
    # JSON: recipient groups, {"*": [...], "site:HCM": [...], "department:TP": [...]} (collector.report_recipients).
    # Empty: no reports are mailed. Sent through the RATING_ALERT_SMTP_* relay, from RATING_ALERT_MAIL_FROM.
    report_mail_to: str = ""
    report_mail_at: time = time(7, 0)  # local time, on Mondays (the week before) and the 1st (the month before)
    report_mail_lang: str = "vi"  # vi | en: a group may say otherwise
    report_mail_tick_s: float = Field(default=30.0, gt=0)  # how often what is due is looked at
    report_mail_retry_s: float = Field(default=60.0, gt=0)  # the first retry of a failed mail; doubles to 1 h

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'collector.sqlite3').as_posix()}"
        if self.mqtt_password_file is None:
            self.mqtt_password_file = self.data_dir / "secrets" / "mqtt-collector.password"
        if not self.share_group:
            self.share_group = None
        if self.releases_dir is None:
            self.releases_dir = self.data_dir / "releases"
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{part.strip()!r} is not an IP address or CIDR") from None
        return value

    @field_validator("alert_rules")
    @classmethod
    def _alert_rules(cls, value: str) -> str:
        RuleBook.parse(value)
        return value

    @model_validator(mode="after")
    def _report_mail(self) -> Settings:
        if parse_recipients(self.report_mail_to, self.report_mail_lang) and not self.alert_smtp_host:
            raise ValueError("RATING_REPORT_MAIL_TO needs an SMTP relay: set RATING_ALERT_SMTP_HOST")
        return self

    @model_validator(mode="after")
    def _office_hours(self) -> Settings:
        OfficeHours.parse(self.office_hours, self.office_days)
        return self

    @property
    def office_schedule(self) -> OfficeHours:
        return OfficeHours.parse(self.office_hours, self.office_days)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    def mqtt_password(self) -> str:
        assert self.mqtt_password_file is not None
        try:
            return self.mqtt_password_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise RuntimeError(
                f"MQTT password file {self.mqtt_password_file} is missing; run `rating-collector broker setup`"
            ) from None


@cache
def get_settings() -> Settings:
    return Settings()
