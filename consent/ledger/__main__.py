"""``python -m consent.ledger verify BASE_URL [--state FILE] [--leaf N ...]``: runs the standalone verifier
``tools/ledger_verify.py`` (standard library + cryptography; it imports nothing of this project, so anyone can
copy it). See docs/ledger.md."""

import runpy
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ledger_verify.py"

if len(sys.argv) < 2 or sys.argv[1] != "verify":
    print("usage: python -m consent.ledger verify BASE_URL [--state FILE] [--leaf N ...]", file=sys.stderr)
    sys.exit(2)
sys.argv = [str(TOOL), *sys.argv[2:]]
runpy.run_path(str(TOOL), run_name="__main__")
