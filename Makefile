# dvnet: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-adversarial-full test-packages bench bench-quick ui wheel clean

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[central,dev]'
	@touch $(STAMP)

## Run a whole simulated network: agencies -> coordinator -> published release (in demo-network/).
demo: $(STAMP)
	$(BIN)/dvnet demo --out demo-network

## Run the whole test suite (installs, or names, the Debian packages whose programs the tests start).
test: $(STAMP) test-packages
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=20 -q

## The attack suites' larger variants (tests/adversarial, DVNET_ADVERSARIAL_FULL=1): the issue-size
## load, fuzz and grid, the expensive bad extracts, re-publication with the ledger too.
test-adversarial-full: $(STAMP) test-packages
	DVNET_ADVERSARIAL_FULL=1 $(BIN)/python -m pytest -n 2 --dist worksteal -q tests/adversarial

test-packages:
	@bash tests/system/require-packages

## Benchmarks: every figure beside its reference from the same run, in benchmarks/results/latest.md
## (28 minutes on 2 cores). bench-quick: the same table at small sizes in about 5 minutes, in
## benchmarks/results/quick/ (not committed). Left out: the 1,000,000-cell suppression release
## (benchmarks/suppression.py --sizes 1000000: over 20 minutes, into its time limits; issue 14).
bench: export DVNET_BENCH_RUN := full-$(shell date -u +%Y%m%dT%H%M%SZ)
bench: export DVNET_BENCH_RESULTS := benchmarks/results
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[central,dev,bench]'
	$(BIN)/python benchmarks/contributor.py --rows 1000000 5000000 10000000 --repeats 3
	$(BIN)/python benchmarks/central.py
	$(BIN)/python benchmarks/suppression.py --sizes 100 10000
	$(BIN)/python benchmarks/sealing.py
	$(BIN)/python benchmarks/report.py --results $$DVNET_BENCH_RESULTS --variant full

bench-quick: export DVNET_BENCH_RUN := quick-$(shell date -u +%Y%m%dT%H%M%SZ)
bench-quick: export DVNET_BENCH_RESULTS := benchmarks/results/quick
bench-quick: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[central,dev,bench]'
	$(BIN)/python benchmarks/contributor.py --rows 100000 --repeats 3 --max-withheld-share 0.05
	$(BIN)/python benchmarks/central.py --agencies 5 --rows 20000
	$(BIN)/python benchmarks/suppression.py --sizes 100
	$(BIN)/python benchmarks/sealing.py --mib 8
	$(BIN)/python benchmarks/report.py --results $$DVNET_BENCH_RESULTS --variant quick

## Start the Dagster UI on 127.0.0.1:3000 for the demo network.
ui: $(STAMP)
	$(BIN)/dvnet ui --network demo-network

## Build the wheel an agency or the coordinator installs (dist/dvnet-<version>-py3-none-any.whl).
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

## Delete the demo network (its Dagster instance is inside it) and what earlier versions stored
## beside the dagster_home/ template (then an instance shared by every network).
clean:
	rm -rf demo-network test-output dist
	find dagster_home -mindepth 1 -maxdepth 1 ! -name dagster.yaml ! -name README.md ! -name __init__.py -exec rm -rf {} +
