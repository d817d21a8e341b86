"""Scenario files: shipped ones load, bad ones fail with a clear message."""

import json
import subprocess
import sys

import pytest

from simulator.traffic import SCENARIO_DIR, ScenarioError, load_scenario, parse_scenario, plan
from tests.helpers.paths import REPO


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIO_DIR.glob("*.json")))
def test_shipped_scenarios_load_and_plan(name):
    sc = load_scenario(name)
    actions = plan(sc, seed=1)
    assert actions and all(0 <= a.at <= sc.real_seconds for a in actions)
    assert plan(sc, seed=1) == actions  # reproducible


@pytest.mark.parametrize(
    "data, message",
    [
        ({"boxes": 3, "colour": "red"}, "unknown key(s) colour"),
        ({"boxes": 0}, "boxes = 0 is impossible"),
        ({"satisfied_share": 1.5}, "satisfied_share = 1.5 is impossible"),
        ({"office_hours": [["17:00", "07:30"]]}, "office_hours"),
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"presses_per_counter_per_day": 500, "day_minutes": 2}, "do not fit"),
        ({"min_gap_s": 3, "lockout_s": 4}, "must exceed lockout_s"),
        ({"boxes": True}, "boxes = True is impossible"),
    ],
)
def test_bad_scenarios_are_refused_with_a_reason(data, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_scenario(data, "bad.json")


@pytest.mark.parametrize(
    "fault, message",
    [
        ({"at": 5, "fault": "flood"}, 'needs "fault": one of wifi'),
        ({"at": 5, "fault": "wifi", "for_s": 3, "colour": "red"}, "unknown key(s) colour for a wifi fault"),
        ({"at": -1, "fault": "power_cut"}, "at = -1 is impossible"),
        ({"at": 500, "fault": "power_cut"}, "within the run's 0..120 s"),
        ({"at": 5, "fault": "wifi"}, "a wifi fault needs for_s"),
        ({"at": 5, "fault": "wifi", "for_s": -2}, "for_s = -2 is impossible"),
        ({"at": 5, "fault": "stuck", "for_s": 12, "button": 7}, "button = 7 is impossible"),
        ({"at": 5, "fault": "mash", "presses": 1}, "presses = 1 is impossible"),
        ({"at": 5, "fault": "hang", "boxes": "box-09"}, "boxes = 'box-09' is impossible"),
        ({"at": 5, "fault": "broker", "for_s": 5, "boxes": "all"}, "unknown key(s) boxes for a broker fault"),
    ],
)
def test_bad_faults_are_refused_with_a_reason(fault, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_scenario({"boxes": 3, "day_minutes": 2, "presses_per_counter_per_day": 5, "faults": [fault]}, "bad.json")


def test_fault_timeline_is_reproducible_from_the_seed(tmp_path):
    from simulator.fleet import Fleet

    sc = load_scenario("faults")
    a = [round(t, 6) for t, *_ in Fleet(tmp_path, scenario=sc, seed=4, workdir=tmp_path / "a").timeline()]
    b = [round(t, 6) for t, *_ in Fleet(tmp_path, scenario=sc, seed=4, workdir=tmp_path / "b").timeline()]
    c = [round(t, 6) for t, *_ in Fleet(tmp_path, scenario=sc, seed=5, workdir=tmp_path / "c").timeline()]
    assert a == b != c


def test_cli_fault_option_is_checked_like_a_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "simulator", "fleet", "--broker-dir", str(tmp_path), "--scenario",
                           "quick", "--fault", "wifi@30,for_s=-1"], capture_output=True, text=True, timeout=60, check=False,
                          cwd=REPO)
    assert done.returncode == 2
    assert "faults[0]: for_s = -1 is impossible" in done.stderr and "Traceback" not in done.stderr


def test_office_hours_and_weekdays_only():
    sc = parse_scenario({"boxes": 2, "days": 2, "start_date": "2026-12-04"})  # a Friday
    actions = plan(sc, seed=2)
    days = {a.local_time[:10] for a in actions}
    assert days == {"2026-12-04", "2026-12-07"}  # the weekend is skipped
    for a in actions:
        hm = a.local_time[11:]
        assert "07:30" <= hm <= "11:30" or "13:30" <= hm <= "17:00"


def test_cli_reports_a_bad_scenario_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"boxes": 2, "speed": 3}))
    done = subprocess.run([sys.executable, "-m", "simulator", "fleet", "--broker-dir", str(tmp_path),
                           "--scenario", str(bad)], capture_output=True, text=True, timeout=60, check=False,
                          cwd=REPO)
    assert done.returncode == 2
    assert "unknown key(s) speed" in done.stderr and "Traceback" not in done.stderr


def test_cli_reports_a_missing_broker_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "simulator", "fleet", "--broker-dir", str(tmp_path),
                           "--broker-port", "1"], capture_output=True, text=True, timeout=60, check=False,
                          cwd=REPO)
    assert done.returncode == 2
    assert "no MQTT broker is listening on 127.0.0.1:1" in done.stderr and "Traceback" not in done.stderr
