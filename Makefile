# Two commands on a fresh machine: `make demo` and `make test`.
# Installs come from the hash-pinned locks in requirements/ (`make lock` refreshes them).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SECONDS ?= 0
# build.lock: pip, setuptools, wheel (the image's builder); runtime.lock: what the image
# runs; test.lock: runtime + test tools + build tools (the venv of `make test`).
LOCKS := requirements/build.lock requirements/runtime.lock requirements/test.lock
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--no-header --upgrade

.PHONY: demo test test-image lint venv clean lock audit

venv: $(STAMP)

$(STAMP): $(LOCKS) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/test.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The Dockerfile built with podman on a local Debian base and run against the emulator
# (minutes; part of .ci/run, opt-in for `make test`): tests/test_image.py.
test-image: $(STAMP)
	RECIPE_RUNNER_IMAGE_TEST=1 $(BIN)/python -m pytest -q -rs tests/test_image.py

lint: $(STAMP)
	$(BIN)/ruff check .

# Re-resolve every lock to the newest versions pyproject.toml allows, with hashes of every
# published file (so any platform installs with --require-hashes); then `make test`.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv  # first lock only
	$(UV_COMPILE) requirements/build.in -o requirements/build.lock
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.lock
	$(UV_COMPILE) pyproject.toml --extra test requirements/build.in -o requirements/test.lock

# Known vulnerabilities in the locked packages (pip-audit); says plainly when it could not
# check them (no route to the vulnerability database) instead of calling them clean.
audit: $(STAMP)
	$(BIN)/python -m tools.lock_audit requirements/runtime.lock requirements/test.lock

demo: $(STAMP)
	$(BIN)/recipe-runner demo --seconds $(DEMO_SECONDS)

clean:
	rm -rf $(VENV) build *.egg-info
