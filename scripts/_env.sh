# Sourced by the scripts in this folder: a virtual environment in .venv with Beaker
# installed (non-editable, so the bundled contexts and kernelspec are installed the way
# users get them). Reinstalls Beaker on every call; dependencies only when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BEAKER_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[beaker] creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
EXTRAS="${BEAKER_EXTRAS:-test}"
"$VENV/bin/pip" install -q "$ROOT[$EXTRAS]"
"$VENV/bin/pip" install -q --no-deps --force-reinstall "$ROOT"
export PATH="$VENV/bin:$PATH"
