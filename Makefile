# Every target works from a fresh clone with only python3 and the package
# registries: the virtualenv is created and the project installed on demand.

VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_PEERS := $(VENV)/.bench-peers

.PHONY: demo test lint bench

demo: $(INSTALLED)
	$(BIN)/publisher demo

# Four test processes on two cores: most tests wait on subprocesses, brokers and
# simulators (the CPUs sat at a load of 1 with two), and the fault cases,
# run first, hold one process for minutes. Work stealing: with the default
# scheduling the tests' own times added up to 660 s a process, but the run
# took 950 s, the other processes idle at its end.
test: lint
	$(BIN)/pytest -q -n 4 --dist worksteal --durations=25

lint: $(INSTALLED)
	$(BIN)/ruff check publisher district_nodes tests bench
	$(BIN)/mypy publisher/cap

# The SMS benchmarks need the PostgreSQL and RabbitMQ of .ci/run, and rabbitmqctl;
# the product path prints the raw SMPP ceiling it is measured against.
bench: $(BENCH_PEERS)
	$(BIN)/python -m bench.cap_bench
	$(BIN)/python -m bench.sms_product_path
	$(BIN)/python -m bench.sms_pacing

$(BIN)/python:
	python3 -m venv $(VENV)

# Reinstalled only when pyproject.toml is newer than the last install.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	touch $@

# capparselib pins an lxml that does not build on Python 3.11, hence --no-deps:
# it runs on the lxml the project already installs.
$(BENCH_PEERS): $(INSTALLED)
	$(BIN)/pip install --no-deps 'capparselib==0.6.6'
	$(BIN)/pip install 'cap-tools>=3.1'
	touch $@
