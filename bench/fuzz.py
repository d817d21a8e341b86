"""Fuzz the collector's payload check for at least 100,000 cases: the same properties as
tests/proof/test_payload_fuzz.py (four of them), with a large budget instead of the tests' small one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Row, print_table

REPO = Path(__file__).resolve().parent.parent
PROPERTIES = 4  # the @given tests in the module
TOTAL_CASES = 100_000


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.parse_args([] if argv is None else argv)  # no options: --help says what it does
    per_property = TOTAL_CASES * 11 // 10 // PROPERTIES  # hypothesis may stop a property a little early
    started = time.monotonic()
    with tempfile.NamedTemporaryFile() as counted:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/proof/test_payload_fuzz.py"],
            cwd=REPO, capture_output=True, text=True, check=False,
            env={**os.environ, "FUZZ_EXAMPLES_PER_PROPERTY": str(per_property), "FUZZ_COUNT_FILE": counted.name},
        )
        cases = int(Path(counted.name).read_text() or 0)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:])
    rows = [
        Row("payload check: cases checked without a crash", cases, f">= {TOTAL_CASES}", "cases",
            done.returncode == 0 and cases >= TOTAL_CASES),
        Row("payload check: cases per second", round(cases / elapsed), None, "cases/s", None),
    ]
    print_table("Payload fuzzing", rows)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
