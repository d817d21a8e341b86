"""technician.env holds the collector's RATING_* settings too (data folder, database, MQTT host and
port): rating-tech reads them from there like its own, and says which keys it ignores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.technician import Tech, port_of


def test_the_settings_file_gives_the_data_folder_and_the_broker_port(
    tech_env: dict[str, str], blank_box: Any, broker: Any, tmp_path: Path
) -> None:
    home = tmp_path / "laptop"
    home.mkdir()
    # Everything in ./technician.env, nothing in the environment; plus a typo and a stranger.
    settings = {key: value for key, value in tech_env.items() if key != "RATING_TECH_SETTINGS"}
    lines = [f"{key}={value}" for key, value in settings.items()] + ["RATING_TECH_WIFI_SID=typo", "COLOR=blue"]
    (home / "technician.env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tech = Tech({}, home)

    shown = tech("settings")
    assert shown.exit_code == 0, shown.output
    data_dir = tech_env["RATING_DATA_DIR"]
    assert data_dir in shown.stdout and f"{data_dir}/broker/passwd" in shown.stdout, shown.stdout
    assert f"{broker.host}:{broker.port} as collector" in shown.stdout, shown.stdout
    assert "technician.env" in shown.stdout
    assert "not a setting, ignored" in shown.stderr, shown.stderr
    assert "RATING_TECH_WIFI_SID (in technician.env)" in shown.stderr and "COLOR (in technician.env)" in shown.stderr
    for key in settings:
        assert key not in shown.stderr

    box = blank_box("env")
    done = tech("provision", port_of(box), "--counter", "17")
    assert done.exit_code == 0, done.output
    assert "box-017 is online at counter 17" in done.stdout


def test_the_environment_wins_over_the_file_and_typos_there_are_named(tech_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    (tmp_path / "technician.env").write_text("RATING_MQTT_PORT=1999\nRATING_DATA_DIR=/nowhere\n", encoding="utf-8")
    tech = Tech({"RATING_MQTT_PORT": "2883", "RATING_TECH_WIFI_PASWORD": "x"}, tmp_path)
    shown = tech("settings")
    assert shown.exit_code == 0, shown.output
    assert "127.0.0.1:2883 as collector" in shown.stdout and "/nowhere/broker/passwd" in shown.stdout, shown.stdout
    assert "RATING_TECH_WIFI_PASWORD (in the environment)" in shown.stderr, shown.stderr
