#!/usr/bin/env bash
# Python readers for the Parquet tests (batch/tests/readers.rs): DuckDB, an
# implementation of Parquet independent of arrow-rs, reads back what Palisade
# exports. And kubernetes-validate, which checks the Kubernetes example in
# deploy/ against the API's own schemas (tests/tests/deploy_examples/).
# Installed from PyPI into a virtualenv at $PALISADE_PYTOOLS (default
# $HOME/.cache/palisade-tools/py), so the system's Python is left alone.
#
#   scripts/install-pytools.sh     installs what is missing
set -euo pipefail

dest="${PALISADE_PYTOOLS:-$HOME/.cache/palisade-tools/py}"
if [ -x "$dest/bin/python" ] && "$dest/bin/python" -c 'import duckdb' 2>/dev/null \
  && [ -x "$dest/bin/kubernetes-validate" ]; then
  exit 0
fi
[ -x "$dest/bin/python" ] || python3 -m venv "$dest"
"$dest/bin/python" -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1,<3' \
  'kubernetes-validate>=1.30,<2'
"$dest/bin/python" -c 'import duckdb; print("duckdb", duckdb.__version__)'
