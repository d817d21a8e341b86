# Two commands do everything: `make run` and `make test`. Both set themselves up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test setup system-packages bench soak lint clean help

help:
	@echo "make run    start Mosquitto, the collector and a simulated fleet of 60 boxes (Ctrl-C stops all)"
	@echo "make test   run the whole test suite"
	@echo "make bench  run every benchmark and print one table (long: tens of minutes)"
	@echo "make soak   60 boxes for a compressed week; memory of every process at start and end"
	@echo "make lint   ruff and mypy"

setup: system-packages $(STAMP)

system-packages:
	@PYTHON=$(PYTHON) sh scripts/system-packages.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Type stubs of the ESP32 port, to type-check the firmware as the box will run it.
	rm -rf typings && $(BIN)/python -m pip install --quiet --no-deps --target typings \
		'micropython-esp32-stubs>=1.29,<1.30' 'micropython-stdlib-stubs>=1.29,<1.30'
	@touch $@

run: setup
	$(BIN)/python -m simulator stack

test: setup
	@# Three workers, each taking whole test files (a file's module fixtures are made once). The
	@# suite mostly waits on brokers, boxes and servers: with two workers it kept 2 cores 59% busy
	@# and took 14:26, with three 12:23 (2 cores). pytest-randomly shuffles the files and the tests
	@# within each file at every run, so that no test leans on another; it prints the seed of the
	@# order: `make test PYTEST_ARGS=--randomly-seed=N` replays it.
	$(BIN)/python -m pytest --numprocesses 3 --dist loadfile $(PYTEST_ARGS)

bench: setup
	@PYTHON=$(PYTHON) sh scripts/system-packages.sh bench
	$(BIN)/python -m bench

soak: setup
	$(BIN)/python -m bench.soak

# MicroPython that the tests and the bench run on the unix port (the firmware itself is checked by
# tests/firmware/test_fw_build.py): type-checked as the firmware is, against the ESP32 stubs, with
# the firmware and the scripts' own helpers on the path. tests/test_static_checks.py compiles them
# with mpy-cross.
MP_SCRIPTS := bench/mp tests/firmware/mp tests/firmware/mp_helpers.py tests/firmware/boxrig.py
MP_PATH := typings:firmware:bench/mp:tests/firmware:tests/firmware/mp

lint: setup
	$(BIN)/ruff check collector simulator schemas technician bench tests
	$(BIN)/mypy --explicit-package-bases collector simulator schemas technician bench tests
	MYPYPATH=$(MP_PATH) $(BIN)/mypy --config-file firmware/mypy.ini --custom-typeshed-dir typings \
		--explicit-package-bases --no-incremental $(MP_SCRIPTS)

clean:
	rm -rf $(VENV) typings build .pytest_cache
