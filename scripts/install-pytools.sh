#!/usr/bin/env bash
# Python readers for the Parquet tests (batch/tests/readers.rs): DuckDB, an
# implementation of Parquet independent of arrow-rs, reads back what Palisade
# exports. Installed from PyPI into a virtualenv at $PALISADE_PYTOOLS (default
# $HOME/.cache/palisade-tools/py), so the system's Python is left alone.
#
#   scripts/install-pytools.sh     installs what is missing
set -euo pipefail

dest="${PALISADE_PYTOOLS:-$HOME/.cache/palisade-tools/py}"
if [ -x "$dest/bin/python" ] && "$dest/bin/python" -c 'import duckdb' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1,<3'
"$dest/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)'
