"""A small fleet plays a short scenario: every press is acknowledged and published exactly once."""

from simulator.fleet import Fleet
from simulator.traffic import parse_scenario


def test_small_fleet_every_press_acknowledged_and_published_once(broker, workdir, watcher):
    sc = parse_scenario({"name": "tiny", "boxes": 4, "day_minutes": 0.5, "presses_per_counter_per_day": 3,
                         "mash_share": 0.3, "tests_per_box_per_day": 0})
    fleet = Fleet(broker.broker_dir, scenario=sc, broker_port=broker.port, seed=11, workdir=workdir / "fleet",
                  reload=broker.reload)
    try:
        fleet.start()
        for b in fleet.boxes:
            b.wait_for(lambda b=b: any("broker: connected" in line for _, line in b.lines), 15)
        fleet.run(duration=20)
        report = fleet.report()
        made = report.made_total
        assert made == len(fleet.records) > 0
        assert report.acknowledged == report.made["press"]
        got = watcher.wait(made, 15)
        keys = [(m["box"], m["seq"]) for m in got]
        assert len(keys) == len(set(keys)) == made
        suppressed = sum(1 for m in got if "suppressed" in m["flags"])
        assert suppressed == report.made["mash"]
        assert 0 < report.rss_mb_per_box < 100
    finally:
        fleet.stop()
