"""`make run`'s system (broker, collector, 60 virtual boxes) runs for a while, and what the
simulator says it pressed is what the collector's HTTP API says it stored."""

import re
import subprocess
import sys
from pathlib import Path

from tests.helpers.ports import PortTaken, on_a_free_port, unused_port

RUN_SECONDS = 40


def figure(output: str, label: str) -> int:
    found = re.search(rf"^{re.escape(label)}\s+(\d+)", output, re.MULTILINE)
    assert found, f"no '{label}' line in:\n{output}"
    return int(found.group(1))


def run_stack(stack_dir: Path) -> str:
    """`python -m simulator stack` for RUN_SECONDS; its output. Neither Mosquitto nor the stack's
    collector URL can take port 0, so a port taken before its server bound it (said in the output
    or in the logs: "already in use") means another run on two new ports, in a fresh data folder."""
    attempts = iter(range(1000))

    def start(mqtt_port: int) -> str:
        http_port = unused_port()
        data = stack_dir / f"data-{next(attempts)}"
        done = subprocess.run(
            [sys.executable, "-m", "simulator", "stack", "--data-dir", str(data), "--mqtt-port", str(mqtt_port),
             "--http-port", str(http_port), "--boxes", "60", "--duration", str(RUN_SECONDS)],
            capture_output=True, text=True, timeout=RUN_SECONDS + 150, check=False,
        )
        output = done.stdout + done.stderr
        if done.returncode != 0:
            logs = "".join(log.read_text(errors="replace") for log in (data / "logs").glob("*.log"))
            if "already in use" in f"{output}\n{logs}".lower():
                raise PortTaken(output)
        assert done.returncode == 0, output
        return output

    return on_a_free_port(start)


def test_fleet_totals_over_http_equal_presses_made(stack_dir: Path) -> None:
    output = run_stack(stack_dir)

    made = figure(output, "presses made")
    assert made >= 60, output  # about four presses a second over the 60 counters
    ordinary = re.search(r"ordinary (\d+)", output)
    assert ordinary, output
    assert figure(output, "acknowledged") == int(ordinary.group(1))
    assert figure(output, "stored") == made
    assert figure(output, "missing") == 0
    assert figure(output, "duplicated") == 0
    assert figure(output, "stored (satisfaction API, all counters)") == made
    # While it ran, the stored totals were growing.
    growing = [int(n) for n in re.findall(r"presses stored\s+(\d+)", output)]
    assert growing == sorted(growing) and growing[-1] > 0, output
