"""The machinery that runs the curriculum, tested on a small practice file of its own."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

PRACTICE = textwrap.dedent(
    """\
    # 99 Practice

    ```python
    calls: list[str] = []
    ```

    ## Exercise 1: Add

    <!-- exercise 1: starter -->
    ```python
    def add(a: int, b: int) -> int:
        raise NotImplementedError
    ```

    <details>
    <summary>Reference solution</summary>

    <!-- exercise 1: solution -->
    ```python
    def add(a: int, b: int) -> int:
        calls.append("add")
        return a + b
    ```

    </details>

    <!-- exercise 1: check -->
    ```python
    assert add(2, 3) == 5
    ```

    <details>
    <summary>Wrong solutions</summary>

    <!-- exercise 1: mutant: subtracts -->
    ```python
    def add(a: int, b: int) -> int:
        return a - b
    ```

    </details>
    """
)


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "99_Demo_Practice.md"
    path.write_text(PRACTICE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("harness_practice")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def exercise(harness: types.ModuleType, path: Path) -> Any:
    (item,) = harness.parse_items(harness.parse_python_blocks(path))
    return item


def test_markers_are_read(harness: types.ModuleType, practice: Path) -> None:
    blocks = harness.parse_python_blocks(practice)
    assert [b.role for b in blocks] == [None, "starter", "solution", "check", "mutant"]
    assert [b.folded for b in blocks] == [False, False, True, False, True]
    assert blocks[4].note == "subtracts"
    item = exercise(harness, practice)
    assert item.solution_names() == {"add"}
    assert harness.item_problems(practice, blocks) == []


def test_variants_fail_where_they_should_and_leave_the_parent_alone(
    harness: types.ModuleType, practice: Path, module: types.ModuleType, tmp_path: Path
) -> None:
    item = exercise(harness, practice)
    solution, mutant = item.role("solution")[0], item.role("mutant")[0]
    commuted = harness.Code("def add(a, b):\n    return b + a\n", "commuted.py")
    verdicts: list[Any] = []

    def prove(current: Any) -> None:
        verdicts.extend(
            harness.run_variants(
                module,
                current,
                [
                    ([], tmp_path / "starter"),
                    ([harness.Code.of(solution), harness.Code.of(mutant)], tmp_path / "mutant"),
                    ([harness.Code.of(solution)], tmp_path / "reference"),
                    ([commuted], tmp_path / "commuted"),
                ],
            )
        )

    harness.run_file(practice, module, before_item=prove)
    starter, wrong, reference, commuted_verdict = verdicts
    assert (starter.kind, starter.role) == ("NotImplementedError", "check")
    assert (wrong.kind, wrong.role, wrong.broken) == ("AssertionError", "check", False)
    assert reference is None  # a check that passes is reported as None
    assert commuted_verdict is None
    assert module.calls == ["add"]  # only the parent's reference run touched the parent's list


def test_broken_and_hanging_variants_are_not_caught_bugs(
    harness: types.ModuleType,
    practice: Path,
    module: types.ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = exercise(harness, practice)
    monkeypatch.setattr(harness, "VARIANT_SECONDS", 1.0)
    typo = harness.Code("def add(a, b):\n    return a + c\n", "typo.py")
    hang = harness.Code("import time\n\ndef add(a, b):\n    time.sleep(60)\n", "hang.py")
    harness.run_file(practice, module, stop_before=item)
    broken, hanging = harness.run_variants(
        module, item, [([typo], tmp_path / "typo"), ([hang], tmp_path / "hang")]
    )
    assert broken.broken
    assert broken.kind == "NameError"
    assert hanging.timed_out


def test_declarations_are_checked(harness: types.ModuleType, tmp_path: Path) -> None:
    unfolded = PRACTICE.replace("<details>\n<summary>Reference solution</summary>\n", "")
    no_mutant = unfolded.split("<details>\n<summary>Wrong solutions</summary>")[0]
    leaning = no_mutant.replace("    return a + b\n", "    return a + b\n\n\nEXPECTED = 5\n")
    leaning = leaning.replace("assert add(2, 3) == 5", "assert add(2, 3) == EXPECTED")
    path = tmp_path / "98_Broken_Practice.md"
    path.write_text(leaning, encoding="utf-8")
    blocks = harness.parse_python_blocks(path)
    problems = harness.item_problems(path, blocks)
    assert any("has no mutant" in p for p in problems)
    assert any("fold the reference solution" in p for p in problems)
    (item,) = harness.parse_items(blocks)
    check = item.role("check")[0]
    assert harness.check_problems(item, blocks) == [
        f"{check.label}: the check reads ['EXPECTED'], defined only by the reference solution"
    ]


def test_a_learner_file_selects_its_exercises(
    harness: types.ModuleType, practice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(harness, "CONCEPTS_DIR", practice.parent)
    mine = practice.parent / "mine.py"
    mine.write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    ((path, item),) = harness.learner_cases(mine, "")
    assert path == practice
    assert item.name == "exercise 1"
    ((_, chosen),) = harness.learner_cases(mine, "01")
    assert chosen.name == "exercise 1"
    mine.write_text("total = 0\n", encoding="utf-8")
    assert harness.learner_cases(mine, "") == [(practice, None)]
