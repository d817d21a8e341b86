"""The simulated board on the MicroPython unix port: contacts follow the edge schedule exactly."""

import json
import random
import subprocess

import pytest

from simulator.box import BOARD_DIR, contact_edges, micropython_binary
from tests.helpers.paths import REPO


def run_mp(code: str) -> str:
    done = subprocess.run([micropython_binary(), "-c", code], capture_output=True, text=True, timeout=30, check=False,
                          cwd=BOARD_DIR, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_bounce_schedule_has_the_asked_edges():
    edges = contact_edges(random.Random(7), 9, 15, 150)
    press, release = edges[:9], edges[9:]
    assert [v for _, v in press] == [1, 0] * 4 + [1] and [v for _, v in release] == [0, 1] * 4 + [0]
    assert press[0][0] == 0 and press[-1][0] == 15  # settles closed exactly bounce_ms after the first edge
    assert release[0][0] == 15 + 150 and release[-1][0] == 15 + 150 + 15
    assert len({t for t, _ in edges}) == len(edges)  # whole ms apart
    assert contact_edges(random.Random(7), 9, 15, 150) == edges  # seeded
    assert contact_edges(random.Random(1), 1, 0, 100) == [(0, 1), (100, 0)]  # a clean contact
    with pytest.raises(ValueError):
        contact_edges(random.Random(1), 30, 10, 100)


def test_box_contacts_change_exactly_at_the_scheduled_edges():
    t0 = 1_800_000_000_000.0
    b1 = contact_edges(random.Random(3), 8, 15, 150)
    b0 = contact_edges(random.Random(4), 5, 10, 60)
    out = run_mp(
        "import sys, json\nsys.path.insert(0, '.')\nfrom simhw import Contacts\n"
        f"c = Contacts(2)\nc.add(1, {t0}, {json.dumps(b1)})\nc.add(0, {t0 + 5}, {json.dumps(b0)})\n"
        "seen = []\nlast = 0\nfor ms in range(-5, 400):\n"
        f"    for frac in (0.0, 0.5):\n        t = {t0} + ms + frac\n        m = c.mask(t)\n"
        "        if m != last:\n            seen.append([ms + frac, m])\n            last = m\n"
        "print(json.dumps(seen))\n"
    )
    at: dict[float, int] = {}
    state = 0
    for t, button, v in sorted([(t, 1, v) for t, v in b1] + [(t + 5, 0, v) for t, v in b0]):
        state = state | (1 << button) if v else state & ~(1 << button)
        at[t] = state  # two edges at one instant: one change of the mask
    expected, last = [], 0
    for t, m in at.items():
        if m != last:
            expected.append([t, m])
            last = m
    assert json.loads(out) == expected


def test_box_contacts_report_samples_that_came_late_over_edges():
    """A box that leaves its contacts unread while a citizen presses says so (the report then tells
    a press the box could not see from one it lost): only gaps >= 30 ms with edges inside count."""
    out = run_mp(
        "import sys, json\nsys.path.insert(0, '.')\nfrom simhw import Contacts\n"
        "late = []\nc = Contacts(1, lambda since, ms: late.append([since, ms]))\n"
        "c.add(0, 1000, [[0, 1], [100, 0]])\n"
        "for t in (900, 905, 990, 995, 1040, 1200, 1300, 1305):\n    c.mask(t)\n"
        "c.add(0, 1270, [[0, 1]])\n"  # a schedule that reached the box after a sample that should have seen it
        "for t in (1310, 1315):\n    c.mask(t)\n"
        "print(json.dumps(late))\n"
    )
    # 905 -> 990: a late sample, but no edge inside; 995 -> 1040 and 1040 -> 1200: edges inside;
    # the edge due at 1270 arrives after the sample at 1305 and is seen at 1310, 40 ms late.
    assert json.loads(out) == [[995, 45], [1040, 160], [1270, 40]]


def test_simulated_board_has_the_esp32_board_api():
    import ast
    from pathlib import Path

    def api(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
        names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                  if isinstance(t, ast.Name) and t.id.isupper() and not t.id.startswith("_")}
        return names

    root = REPO
    assert api(root / "simulator/board/board.py") == api(root / "firmware/board.py")
