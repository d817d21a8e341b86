"""Press payloads as boxes send them."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from collector.clock import utc_ms


def press_payload(box: str = "box-017", seq: int = 1, **fields: Any) -> dict[str, Any]:
    counter = {"box-017": "17", "box-018": "18"}.get(box, "17")
    payload = {"v": 1, "box": box, "counter": counter, "seq": seq, "boot": 1, "up": 1000 + seq,
               "t": int(time.time() * 1000), "clock": "sync", "scale": "sat2", "level": 1, "flags": [],
               "fw": "0.1.0"}
    payload.update(fields)
    return payload


def presses_from_january_to_april(make_press: Any) -> list[dict[str, Any]]:
    """~600 presses from 20 Jan to 10 Apr 2026 at local office hours, some flagged."""
    rng = random.Random(7)
    out = []
    seq = {"box-017": 0, "box-018": 0}
    day = date(2026, 1, 20)
    while day <= date(2026, 4, 10):
        for box, scale, levels in (("box-017", "sat2", 2), ("box-018", "vn3", 3)):
            for _ in range(rng.randint(0, 5)):
                seq[box] += 1
                local = datetime(day.year, day.month, day.day, rng.choice([7, 8, 9, 10, 14, 15, 16, 23]),
                                 rng.randint(0, 59), tzinfo=UTC) - timedelta(hours=7)
                flags = rng.choice([[], [], [], [], [], ["suppressed"], ["test"]])
                out.append(make_press(box=box, seq=seq[box], t=utc_ms(local), scale=scale,
                                      level=rng.randrange(levels), flags=flags))
        day += timedelta(days=1)
    return out
