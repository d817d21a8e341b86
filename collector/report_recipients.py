"""Who gets the scheduled reports (RATING_REPORT_MAIL_TO): JSON, a recipient group per key.

    {"*": ["giamdoc@example.gov.vn"],                      the whole center's report
     "site:HCM": ["truongchinhanh@example.gov.vn"],        one site's (its departments)
     "department:TP": {"to": ["tp@example.gov.vn"], "lang": "en"}}   one department's only

A group is a list of addresses, or {"to": [...], "lang": "vi" | "en"} (default: RATING_REPORT_MAIL_LANG).
A bad value stops the collector at start-up with the reason: a report that silently goes nowhere is
the failure this guards against."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

LANGS = ("vi", "en")
MAX_GROUPS = 200
MAX_ADDRESSES = 50  # per group: a mailing list belongs on the relay, not here
# A plain address, nothing a header could be bent with (no display name, comma, space or newline).
ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                     r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*")
CODE = re.compile(r"[A-Za-z0-9._-]{1,32}")


@dataclass(frozen=True)
class RecipientGroup:
    key: str  # "*", "site:<code>" or "department:<code>": the dispatch rows' recipient group
    scope: str  # center | site | department
    code: str  # the site's or department's code; "" for the center
    addresses: tuple[str, ...]
    lang: str


def parse_recipients(text: str, default_lang: str = "vi") -> list[RecipientGroup]:
    """The groups of RATING_REPORT_MAIL_TO; '' is none. Raises ValueError saying what is wrong."""
    if not text.strip():
        return []
    try:
        found = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"RATING_REPORT_MAIL_TO is not JSON: {error}") from None
    if not isinstance(found, dict) or not found:
        raise ValueError('RATING_REPORT_MAIL_TO must be a JSON object, e.g. {"*": ["director@example.org"]}')
    if len(found) > MAX_GROUPS:
        raise ValueError(f"RATING_REPORT_MAIL_TO has {len(found)} groups; at most {MAX_GROUPS}")
    return [_group(key, value, default_lang) for key, value in found.items()]


def _group(key: str, value: object, default_lang: str) -> RecipientGroup:
    where = f"RATING_REPORT_MAIL_TO[{key!r}]"
    if key == "*":
        scope, code = "center", ""
    else:
        scope, _, code = key.partition(":")
        if scope not in ("site", "department") or not CODE.fullmatch(code):
            raise ValueError(f'{where}: a group is "*", "site:<code>" or "department:<code>" (codes: letters, '
                             "digits, . _ -, up to 32)")
    lang = default_lang
    if isinstance(value, dict):
        unknown = set(value) - {"to", "lang"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; a group has 'to' and 'lang'")
        lang = value.get("lang", default_lang)
        value = value.get("to")
    if lang not in LANGS:
        raise ValueError(f"{where}: lang must be one of {', '.join(LANGS)}, not {lang!r}")
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise ValueError(f"{where}: a non-empty list of e-mail addresses")
    if len(value) > MAX_ADDRESSES:
        raise ValueError(f"{where}: {len(value)} addresses; at most {MAX_ADDRESSES}")
    bad = [address for address in value if not ADDRESS.fullmatch(address)]
    if bad:
        raise ValueError(f"{where}: not a plain e-mail address: {', '.join(map(repr, bad))}")
    return RecipientGroup(key, scope, code, tuple(dict.fromkeys(value)), lang)
