#!/usr/bin/env bash
# Make sure the project virtual environment exists and runs; create it once.
#   PYTHON   the base interpreter (default python3); any Python 3.11+
#   VENV     the folder (default .venv)
#   REMAKE_IF_OTHER=1  remake a venv that another interpreter made (make sets it when
#                      PYTHON was given explicitly, so `make test PYTHON=...` means that one)
# Never installs into PYTHON itself: Debian's Python refuses that (PEP 668), rightly.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv="${VENV:-.venv}"

base_of() { "$1" -c 'import os, sys; print(os.path.realpath(sys._base_executable))'; }

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: $python is not a Python 3.11 or newer; choose one with PYTHON=/path/to/python3" >&2
  exit 2
fi
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null; then
  if [ "${REMAKE_IF_OTHER:-0}" != 1 ] || [ "$(base_of "$venv/bin/python")" = "$(base_of "$python")" ]; then
    exit 0
  fi
  echo "$venv was made from $(base_of "$venv/bin/python"); remaking it from $python"
fi
rm -rf "$venv"
if ! "$python" -c 'import ensurepip' 2>/dev/null; then
  echo "error: $python cannot create a virtual environment (no ensurepip); on Debian or" \
       "Ubuntu: sudo apt-get install python3-venv (scripts/install-system.sh does it)" >&2
  exit 2
fi
"$python" -m venv "$venv"
echo "created $venv from $(base_of "$venv/bin/python")"
