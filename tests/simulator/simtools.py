"""Helpers of the simulator's tests."""

from simulator.box import make_config


def connected(box) -> bool:
    return any("broker: connected" in line for _, line in list(box.lines))


def box_config(broker, box="box-17", counter="17", **timings):
    password = broker.add_box(box, f"{box}-pw")
    return make_config(box, counter, password=password, broker_port=broker.port, timings=timings or None)
