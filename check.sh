#!/usr/bin/env bash
# Run every test: lit (IR) tests and pytest (API, CLI, simulation), via pytest.
# Sets up first if needed (seconds when already set up).  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --skip-demo
exec .venv/bin/python -m pytest "$@"
