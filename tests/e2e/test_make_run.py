"""`make run`'s system (broker, collector, 60 virtual boxes) runs for a while, and what the
simulator says it pressed is what the collector's HTTP API says it stored."""

import re
import subprocess
import sys

RUN_SECONDS = 40


def figure(output: str, label: str) -> int:
    found = re.search(rf"^{re.escape(label)}\s+(\d+)", output, re.MULTILINE)
    assert found, f"no '{label}' line in:\n{output}"
    return int(found.group(1))


def test_fleet_totals_over_http_equal_presses_made(stack_dir, free_port):
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "stack", "--data-dir", str(stack_dir / "data"),
         "--mqtt-port", str(free_port()), "--http-port", str(free_port()), "--boxes", "60",
         "--duration", str(RUN_SECONDS)],
        capture_output=True, text=True, timeout=RUN_SECONDS + 150, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output

    made = figure(output, "presses made")
    assert made >= 60, output  # about four presses a second over the 60 counters
    assert figure(output, "acknowledged") == int(re.search(r"ordinary (\d+)", output).group(1))
    assert figure(output, "stored") == made
    assert figure(output, "missing") == 0
    assert figure(output, "duplicated") == 0
    assert figure(output, "stored (satisfaction API, all counters)") == made
    # While it ran, the stored totals were growing.
    growing = [int(n) for n in re.findall(r"presses stored\s+(\d+)", output)]
    assert growing == sorted(growing) and growing[-1] > 0, output
