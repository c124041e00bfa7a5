# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need
# into .venv first, and do nothing more when it is already up to date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench clean

# Debian packages pip cannot bring: FUSE for sealfs mounts (pyfuse3 compiles against it),
# bubblewrap for the enclave sandbox, Flask for the enclave's web service example, libsodium
# for private set intersection's group arithmetic (through pysodium).
DEBIAN_PACKAGES := fuse3 libfuse3-dev pkg-config bubblewrap python3-flask libsodium23

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq python3-venv python3-pip)
	scripts/debian-packages $(DEBIAN_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/cleanroom_demo.py

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests marked `postgres` run against a throwaway local server that scripts/test-postgres
# installs (if absent) and starts; its URL reaches them through TRUSTROOM_TEST_DATABASE_URL.
unit: $(STAMP)
	url="$$(scripts/test-postgres)" && TRUSTROOM_TEST_DATABASE_URL="$$url" $(BIN)/pytest

bench: $(STAMP)
	scripts/debian-packages gocryptfs
	$(BIN)/python benchmarks/evidence_vs_dcap_qvl.py
	$(BIN)/python benchmarks/ratls_handshake.py
	$(BIN)/python benchmarks/sealfs_vs_gocryptfs.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
