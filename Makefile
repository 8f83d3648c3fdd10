# rxcdc developer commands. `make test` is all a fresh Debian/Ubuntu machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rxcdc-installed

.PHONY: setup system venv node example-node demo test lint dist bench bench-peers soak clean

setup: system venv node example-node

system:
	@bash scripts/setup-system.sh

venv: $(STAMP)

# TypeScript tooling for the client runtime's tests (npm ci only when package-lock.json changed).
node:
	@bash scripts/setup-node.sh

# The example's React/Vite and playwright-core for the browser tests (npm ci when its lock changed).
example-node:
	@bash scripts/setup-example.sh

# The example app on throwaway services: prints the URL and the logins; Ctrl-C stops everything.
demo: setup
	@$(BIN)/python example/demo.py

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A wheel and an sdist in DIST_DIR (docs/quickstart.md, "Install"): `pip install dist/rxcdc-*.whl`.
DIST_DIR ?= dist
dist: venv
	$(BIN)/python -m build --outdir $(DIST_DIR) .

bench: setup
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# rxcdc side by side with RxDjango and DCRF (docs/benchmarks.md, "Peers"); not part of `make test`.
# The peers live in their own .venv-peers (scripts/setup-peers.sh), never in .venv.
bench-peers: setup
	@bash scripts/setup-peers.sh
	$(BIN)/python -m tests.bench_peers $(BENCH_ARGS)

# The exactness state machine with fresh seeds for MINUTES minutes; prints a summary line
# (examples, steps, worker kills, client (re)connects, divergences).
MINUTES ?= 10
soak: setup
	RX_SOAK_SECONDS=$$(( $(MINUTES) * 60 )) $(BIN)/python -m pytest -s -p no:cacheprovider \
		tests/exact/test_state_machine.py $(PYTEST_ARGS)

# The fault suite (docs/reliability.md): TRIALS trials per fault on the real stack, one table.
# `make test` runs it with one trial per row.
TRIALS ?= 3
.PHONY: chaos
chaos: setup
	RX_CHAOS_TRIALS=$(TRIALS) RX_CHAOS_REPORT=$${RX_CHAOS_REPORT:-/tmp/rxcdc-chaos.md} \
		$(BIN)/python -m pytest -s -p no:cacheprovider tests/chaos $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
