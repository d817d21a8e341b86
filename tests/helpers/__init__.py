"""Helpers of the test suite, a module per responsibility; fixtures stay in the conftest.py files.

Import them as `from tests.helpers.<module> import ...`:

- paths: REPO, the repository's root
- ports: a free port for a server, and starting it again on another when the port was taken
- postgres: a throwaway PostgreSQL server and fresh databases on it
- broker: a real Mosquitto (collector.broker) on a free port, and BrokerHandle for tests
- collector: the collector as a process (`python -m collector serve`)
- registry: the test registry and loading a registry into a database
- presses: press payloads, one or a season of them
- streams: a box-like publisher of press streams and the exactly-once checks
- proof: the proof suite's fleet, faults and checks
- firmware: the firmware under the MicroPython unix port, and the network stand-ins it talks to
- simulator: the simulator's virtual boxes on the test broker, and a watcher of what they publish
- technician: running `rating-tech` as a technician does
- browser: headless Chromium driven over the DevTools protocol
- waiting: wait_until, polling a condition with a timeout
"""
