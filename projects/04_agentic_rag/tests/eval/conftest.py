"""The evaluation's code lives in ``eval/`` (scripts and the ``rag_eval`` package beside
them), not in the installed package: put that folder on the import path for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval"
if str(EVAL_DIR) not in sys.path:
    sys.path.insert(0, str(EVAL_DIR))
