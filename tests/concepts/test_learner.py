"""A learner's own solution against an exercise's check.

    make check-topic T=12 SOLUTION=path/to/my_solution.py [EX=3]

Collected only when ``CONCEPTS_SOLUTION`` is set (the Makefile sets it). The practice file runs
top to bottom up to the exercise, as it would in a notebook; then the exercise's starter code
runs, the learner's file takes the place of the reference solution, and the check runs.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest


def test_learner_solution(
    learner_case: tuple[Path, Any],
    harness: types.ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, item = learner_case
    solution = Path(os.environ[harness.SOLUTION_ENV])
    if item is None:
        wanted = "\n".join(
            f"  {i.name}: {', '.join(sorted(i.solution_names()))}"
            for i in harness.parse_items(harness.parse_python_blocks(path))
            if i.is_exercise
        )
        pytest.fail(
            f"{solution} defines none of the names the exercises of {path.name} ask for. "
            f"Name the exercise with EX=N, or define one of these:\n{wanted}",
            pytrace=False,
        )
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"learner_{path.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    harness.run_file(path, module, stop_before=item)
    code = harness.Code(solution.read_text(encoding="utf-8"), str(solution))
    failure = harness.run_variant(module, item, [code], tmp_path / "learner", quiet=False)
    if failure is None:
        return
    if failure.role == "solution":
        verdict = f"your file raised before the check ran ({failure.describe()})"
    elif failure.timed_out:
        verdict = f"the check gave no verdict: {failure.describe()}"
    else:
        verdict = f"the check fails ({failure.describe()})"
    pytest.fail(
        f"{path.name}, {item.name}: {verdict}\n\n{failure.traceback}",
        pytrace=False,
    )
