"""`rating-tech label`: stickers for the boxes, one PDF page each at the label printer's size (62x29 mm,
a Brother DK-11209 roll, by default): the box id, its counter, the day it was installed there, and a
QR code of its id (segno), so that a technician's phone reads which box this is. The counter and the
day come from the collector's registry (GET /api/v1/registry/boxes and /counters); the PDF is made by
WeasyPrint, as the collector's reports are."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

import segno

DEFAULT_SIZE = "62x29"
# A box id's QR code is at most 29 x 29 modules with its border (version 3, level M): on a side under
# 20 mm a module gets under 0.6 mm, too fine for a label printer's 300 dpi and a phone's camera.
MIN_MM, MAX_MM = 20.0, 300.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x×*]\s*(\d+(?:\.\d+)?)\s*(?:mm)?\s*$", re.IGNORECASE)


class LabelError(ValueError):
    pass


@dataclass(frozen=True)
class Sticker:
    box: str
    counter: str
    counter_name: str | None
    installed: date  # the local day its current assignment began


def parse_size(text: str) -> tuple[float, float]:
    """'62x29' (width x height, millimetres) -> (62.0, 29.0)."""
    found = _SIZE.match(text)
    if not found:
        raise LabelError(f"sticker size {text!r}: give width x height in millimetres, e.g. {DEFAULT_SIZE}")
    width, height = float(found.group(1)), float(found.group(2))
    if not (MIN_MM <= width <= MAX_MM and MIN_MM <= height <= MAX_MM):
        raise LabelError(f"sticker size {text!r}: each side must be {MIN_MM:g} to {MAX_MM:g} mm")
    return width, height


def stickers(boxes: list[dict[str, Any]], counters: list[dict[str, Any]], wanted: list[str] | None,
             timezone: str, now: datetime) -> list[Sticker]:
    """A sticker for each wanted box (None: every box at a counter now), from the registry's answers."""
    names = {c["code"]: c.get("name") for c in counters}
    current: dict[str, dict[str, Any]] = {}
    for row in boxes:
        start = datetime.fromisoformat(row["from"]) if row.get("from") else None
        end = datetime.fromisoformat(row["to"]) if row.get("to") else None
        if (start is None or start <= now) and (end is None or now < end):
            current[row["box"]] = {**row, "start": start}
    if wanted is None:
        wanted = sorted(current)
        if not wanted:
            raise LabelError("the registry has no box at a counter now")
    known = {row["box"] for row in boxes}
    made = []
    for box in wanted:
        if box not in current:
            raise LabelError(f"{box} is not in the registry" if box not in known else
                             f"{box} is at no counter now (retired or not yet installed): no sticker")
        row = current[box]
        installed = row["start"].astimezone(ZoneInfo(timezone)).date() if row["start"] else now.date()
        made.append(Sticker(box, row["counter"], names.get(row["counter"]), installed))
    return made


def qr_svg(box: str) -> str:
    """The QR code of the box id, as an SVG data URI (vector: sharp at any printer resolution)."""
    return str(segno.make(box, error="m", micro=False).svg_data_uri(border=2, dark="#000"))


def html(items: list[Sticker], width: float, height: float) -> str:
    pad = min(2.0, height * 0.07)
    qr = height - 2 * pad
    text_width = width - qr - 3 * pad
    if text_width < 12:
        raise LabelError(f"a {width:g}x{height:g} mm sticker leaves no room for text beside its QR code; "
                         "make it wider")
    big, small = height * 0.16, height * 0.095  # mm: 4.6 and 2.8 mm (13 and 8 pt) on a 29 mm sticker
    pages = "".join(
        f'<section><img src="{qr_svg(s.box)}" alt="{escape(s.box)}">'
        f'<div class="text"><p class="box">{escape(s.box)}</p>'
        f'<p>{escape(s.counter_name or "Quầy " + s.counter)}</p>'
        f'<p>Quầy / counter {escape(s.counter)}</p>'
        f'<p>Lắp đặt / installed {s.installed:%d/%m/%Y}</p></div></section>'
        for s in items)
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><style>
@page {{ size: {width}mm {height}mm; margin: 0; }}
body {{ margin: 0; font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: {small:.2f}mm; }}
section {{ position: relative; width: {width}mm; height: {height}mm; overflow: hidden; break-after: page; }}
section:last-child {{ break-after: auto; }}
img {{ position: absolute; left: {pad:.2f}mm; top: {pad:.2f}mm; width: {qr:.2f}mm; height: {qr:.2f}mm; }}
.text {{ position: absolute; left: {qr + 2 * pad:.2f}mm; top: {pad:.2f}mm; width: {text_width:.2f}mm; }}
p {{ margin: 0 0 {small * 0.25:.2f}mm 0; line-height: 1.15; overflow-wrap: anywhere; }}
p.box {{ font-size: {big:.2f}mm; font-weight: bold; }}
</style></head><body>{pages}</body></html>"""


def render_pdf(items: list[Sticker], size: str = DEFAULT_SIZE) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]

    width, height = parse_size(size)
    pdf = HTML(string=html(items, width, height)).write_pdf()
    assert pdf is not None
    return bytes(pdf)
