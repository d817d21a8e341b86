"""`make run`'s system (broker, collector, 60 virtual boxes) runs for a while, and what the
simulator says it pressed is what the collector's HTTP API says it stored."""

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers.ports import PortTaken, on_a_free_port, unused_port

# The fleet presses until its status line shows this many made, and is then stopped as Ctrl-C does.
PRESSES = 60
STOP_TIMEOUT_S = 150  # the boxes' drain (30 s at most), the report, and the processes' ends


def figure(output: str, label: str) -> int:
    found = re.search(rf"^{re.escape(label)}\s+(\d+)", output, re.MULTILINE)
    assert found, f"no '{label}' line in:\n{output}"
    return int(found.group(1))


def run_stack(stack_dir: Path) -> str:
    """`python -m simulator stack` until PRESSES presses were made, then Ctrl-C: SIGINT to its
    whole process group, as a terminal sends it; its output. Neither Mosquitto nor the stack's
    collector URL can take port 0, so a port taken before its server bound it (said in the output
    or in the logs: "already in use") means another run on two new ports, in a fresh data folder."""
    attempts = iter(range(1000))

    def start(mqtt_port: int) -> str:
        http_port = unused_port()
        data = stack_dir / f"data-{next(attempts)}"
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "stack", "--data-dir", str(data), "--mqtt-port", str(mqtt_port),
             "--http-port", str(http_port), "--boxes", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        lines: list[str] = []
        enough = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                made = re.search(r"presses made\s+(\d+)\s+presses stored", line)
                if made and int(made.group(1)) >= PRESSES:
                    enough.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            enough.wait(timeout=180)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=10)
        output = "".join(lines)
        if process.returncode != 0:
            logs = "".join(log.read_text(errors="replace") for log in (data / "logs").glob("*.log"))
            if "already in use" in f"{output}\n{logs}".lower():
                raise PortTaken(output)
        assert enough.is_set(), f"fewer than {PRESSES} presses made in 180 s:\n{output}"
        assert process.returncode == 0, output
        return output

    return on_a_free_port(start)


def test_fleet_totals_over_http_equal_presses_made(stack_dir: Path) -> None:
    output = run_stack(stack_dir)

    made = figure(output, "presses made")
    assert made >= PRESSES, output
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
    # Each status line counts this run's presses on both sides and says what a difference means.
    for made_then, stored_then, note in re.findall(r"presses made\s+(\d+)\s+presses stored\s+(\d+)\s+\((.*)\)", output):
        assert int(stored_then) <= int(made_then), output
        assert note == ("all stored" if made_then == stored_then else
                        f"{int(made_then) - int(stored_then)} still in the boxes' flash or on their way"), output
