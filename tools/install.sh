#!/usr/bin/env bash
# Creates or completes the project environment (default: ./.venv) from requirements/*.txt.
# Idempotent: returns at once when the stamp matches the requirement files.
#
#   VENV=/path/to/venv   install into another virtual environment
#   MAX_JOBS=N           parallel compile jobs for mmcv's ops (default: all cores)
#
# A torch that already imports in the environment (e.g. a CUDA build on a GPU machine) is kept:
# torch/torchvision are then dropped from the constraints, and mmcv is compiled against it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
STAMP="$VENV/.vdeblur_mm-installed"
HASH="$(cat requirements/*.txt pyproject.toml tools/install.sh | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && [ -x "$PY" ]; then
    exit 0
fi
start=$(date +%s)
[ -x "$PY" ] || python3 -m venv "$VENV"
# --isolated: ignore this machine's pip configuration (its find-links folder holds a CPU-only torch
# wheel that PyPI's torchvision cannot load); the wheel cache is still used.
PIP=("$PY" -m pip install --isolated --disable-pip-version-check -q)
CONSTRAINTS="$ROOT/requirements/constraints.txt"

if "$PY" -c 'import torch, torchvision' 2>/dev/null && [ ! -f "$VENV/.vdeblur_mm-torch-ours" ]; then
    echo "[install] keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
    CONSTRAINTS="$VENV/.vdeblur_mm-constraints.txt"
    grep -v -E '^(torch|torchvision)==' "$ROOT/requirements/constraints.txt" > "$CONSTRAINTS"
elif ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
    echo "[install] torch + torchvision (PyPI build)"
    "${PIP[@]}" -c "$CONSTRAINTS" torch torchvision
    touch "$VENV/.vdeblur_mm-torch-ours"
fi

echo "[install] build tools, mmengine"
"${PIP[@]}" -c "$CONSTRAINTS" "setuptools<82" wheel ninja psutil numpy mmengine opencv-python

if ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
    echo "[install] mmcv with ops (compiled once, then reused from pip's wheel cache)"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" --no-build-isolation -c "$CONSTRAINTS" mmcv
fi

echo "[install] mmagic (without its unused extras) and runtime/test requirements"
"${PIP[@]}" --no-deps -c "$CONSTRAINTS" mmagic
"${PIP[@]}" -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
"${PIP[@]}" --no-deps --no-build-isolation -e .
# the start-up hook (compat fixes before mmagic's stock tools import mmagic); a wheel or a
# non-editable install carries it, an editable one cannot
"$PY" -m vdeblur_mm_startup install >/dev/null

PYTHONWARNINGS=ignore "$PY" -c 'import vdeblur_mm, mmcv.ops, mmagic.models' >/dev/null
echo "$HASH" > "$STAMP"
echo "[install] done in $(( $(date +%s) - start )) s"
