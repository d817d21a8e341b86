"""`make run` (`python -m simulator stack`) as a user meets it: killed outright, it leaves nothing
running, and the next start works; a port someone holds is refused naming who holds it."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers.paths import REPO
from tests.helpers.ports import PortTaken, on_a_free_port, unused_port
from tests.helpers.waiting import wait_until

READY = "boxes running scenario"
START_TIMEOUT_S = 240  # broker setup, migrations, collector health and two boxes booting, on 2 busy cores


def _stat(pid: int) -> tuple[int, str, str, str] | None:
    """(parent pid, state, start time, name) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], fields[19], name


def descendants(root: int) -> dict[int, tuple[str, str]]:
    """Every living process below `root`: pid -> (start time, name). The start time tells a pid
    reused later apart from the process seen now."""
    children: dict[int, list[int]] = {}
    facts: dict[int, tuple[str, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
            facts[int(entry.name)] = (stat[2], stat[3])
    found: dict[int, tuple[str, str]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in facts and pid not in found:
            found[pid] = facts[pid]
            todo += children.get(pid, [])
    return found


def still_running(seen: dict[int, tuple[str, str]]) -> dict[int, str]:
    """Those of `seen` still alive (a zombie waiting for a reaper is not: it holds no port)."""
    alive = {}
    for pid, (started, name) in seen.items():
        stat = _stat(pid)
        if stat is not None and stat[2] == started and stat[1] != "Z":
            alive[pid] = name
    return alive


class Stack:
    """One `python -m simulator stack` process, its output read as it comes."""

    def __init__(self, data_dir: Path, mqtt_port: int, http_port: int):
        env = {key: value for key, value in os.environ.items() if not key.startswith("RATING_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "stack", "--data-dir", str(data_dir), "--mqtt-port", str(mqtt_port),
             "--http-port", str(http_port), "--boxes", "2"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_end(self, timeout: float) -> str:
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.output.append(line)
        self.process.wait(timeout=timeout)
        return "".join(self.output)

    def wait_ready(self) -> None:
        while True:
            try:
                line = self.lines.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"the stack was not ready in {START_TIMEOUT_S} s:\n{''.join(self.output)}") from None
            if line is None:
                raise AssertionError(f"the stack ended before it was ready:\n{''.join(self.output)}")
            self.output.append(line)
            if READY in line:
                return


def start_stack(data_dir: Path) -> Stack:
    """A stack on two ports free when chosen, ready; on two others if one was taken before the
    stack could bind it (neither Mosquitto nor the stack's collector URL can take port 0)."""

    def start(mqtt_port: int) -> Stack:
        stack = Stack(data_dir, mqtt_port, unused_port())
        try:
            stack.wait_ready()
        except AssertionError as error:
            if "already in use" in str(error):
                stack.process.wait(timeout=30)
                raise PortTaken(str(error)) from None
            raise
        return stack

    return on_a_free_port(start)


def _kill_leftovers(seen: dict[int, tuple[str, str]]) -> None:
    for pid in still_running(seen):
        os.kill(pid, signal.SIGKILL)


def test_a_killed_stack_leaves_nothing_running_and_starts_again(stack_dir: Path) -> None:
    data_dir = stack_dir / "data"
    seen: dict[int, tuple[str, str]] = {}
    try:
        first = start_stack(data_dir)
        seen.update(descendants(first.process.pid))
        names = [name for _, name in seen.values()]
        assert "mosquitto" in names and "micropython" in names and len(seen) >= 4, seen
        first.process.kill()  # as `kill -9`, or the terminal's window closed under it
        first.process.wait(timeout=30)
        wait_until(lambda: not still_running(seen), timeout=90, what=f"the stack's processes to end: {seen}")

        second = start_stack(data_dir)
        seen.update(descendants(second.process.pid))
        second.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert second.process.wait(timeout=90) == 0, "".join(second.output)
        wait_until(lambda: not still_running(seen), timeout=30, what="the second stack's processes to end")
    finally:
        _kill_leftovers(seen)


def test_a_busy_port_is_refused_naming_who_holds_it(stack_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]

        def refused(ports: tuple[int, int]) -> tuple[Stack, str]:
            stack = Stack(stack_dir / "data", *ports)
            said = stack.wait_end(timeout=120)
            other = ports[1] if ports[0] == busy else ports[0]
            if f"127.0.0.1:{other} is already in use" in said:  # taken by another test meanwhile
                raise PortTaken(said)
            return stack, said

        for start in (lambda port: refused((busy, port)), lambda port: refused((port, busy))):
            stack, said = on_a_free_port(start)
            assert stack.process.returncode == 1, said
            assert f"127.0.0.1:{busy} is already in use" in said and f"(pid {os.getpid()})" in said, said
            assert "Traceback" not in said
