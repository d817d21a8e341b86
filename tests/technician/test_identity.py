"""A box id belongs to one device: once it is given to a device, another device never gets it,
even when the first device never came online."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.technician import port_of


def test_an_id_given_to_a_box_that_never_came_online_is_not_given_again(
        tech: Any, blank_box: Any, refusing_port: int) -> None:
    first = blank_box("first")
    # The box cannot reach the broker (a wrong broker address): it never comes online.
    lost = tech("provision", port_of(first), "--counter", "17", "--timeout", "4",
                RATING_TECH_BROKER_PORT=str(refusing_port))
    assert lost.exit_code == 1 and "did not come online" in lost.output, lost.output
    assert json.loads(first.flash_read("config.json"))["box"] == "box-017"

    second = blank_box("second")
    clash = tech("provision", port_of(second), "--counter", "17")
    assert clash.exit_code == 1, clash.output
    assert "box-017" in clash.output and "already in use" in clash.output
    assert "replace --counter 17" in clash.output
    assert "/config.json" not in second.flash_ls()

    # The first device, provisioned again (now with the right broker), keeps its identity.
    again = tech("provision", port_of(first))
    assert again.exit_code == 0, again.output
    assert "box-017 is online at counter 17" in again.output
