#!/usr/bin/env bash
# Run every test: lit (IR) tests and pytest (API, CLI, simulation), via pytest.
# Sets up first if needed (seconds when already set up).  Extra arguments go to pytest.
# The test files run in parallel, one pytest-xdist worker per core, each file's tests in
# one worker (their module fixtures are built once); `./check.sh -n 0` runs them serially.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --skip-demo
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
