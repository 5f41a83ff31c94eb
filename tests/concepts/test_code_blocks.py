"""Every python block in concepts/*.md runs, every exercise check can fail, and fragments stay
rare and explained."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_FRAGMENT_SHARE = 0.10
LINK_RE = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_concept_file_code_runs(
    concept_file: Path,
    harness: types.ModuleType,
    tally: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run the file's blocks in order in one module, as a learner would paste them in a script;
    before each exercise (or demo), prove its check can fail: run it on the starter code and on
    every known-wrong solution, each in a forked copy of the module, then go on with the
    reference."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    module = types.ModuleType(f"concept_{concept_file.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    problems: list[str] = []
    ran_mutants: list[Any] = []

    def prove(item: Any) -> None:
        """Run the starter and every mutant (at the same time), and check each one failed."""
        where = f"{concept_file.name} {item.name}"
        solution = harness.Code.of(item.role("solution")[0])
        variants: list[tuple[list[Any], Path]] = []
        if item.is_exercise:
            variants.append(([], tmp_path / f"{item.slug}-starter"))
        mutants = item.role("mutant")
        for mutant in mutants:
            code = [solution, harness.Code.of(mutant)]
            variants.append((code, tmp_path / f"{item.slug}-mutant{mutant.line}"))
        verdicts = harness.run_variants(module, item, variants)
        if item.is_exercise:
            starter_failure, *verdicts = verdicts
            problem = not_caught(starter_failure)
            if problem:
                problems.append(f"{item.name}, on its starter code: {problem}")
            else:
                tally.starters_failed += 1
                verdict = starter_failure.describe()[:80]
                tally.verdicts.append(f"{where}, starter: fails ({verdict})")
        for mutant, failure in zip(mutants, verdicts, strict=True):
            tally.mutants += 1
            problem = not_caught(failure)
            if problem:
                problems.append(f"{item.name}, mutant '{mutant.note}' ({mutant.label}): {problem}")
            else:
                tally.mutants_caught += 1
                ran_mutants.append(mutant)
                tally.verdicts.append(
                    f"{where}, mutant '{mutant.note}': caught ({failure.describe()[:80]})"
                )

    ran = harness.run_file(concept_file, module, before_item=prove)
    if ran:
        tally.files.add(concept_file)
    tally.executed.extend(ran + ran_mutants)
    for item in harness.parse_items(ran):
        if item.is_exercise:
            tally.exercises += 1
            tally.references_passed += 1
        else:
            tally.demos += 1
    assert not problems, "checks that cannot fail:\n" + "\n".join(problems)


def not_caught(failure: Any) -> str | None:
    """Why a failure does not count as the check catching a wrong solution (None: it does)."""
    if failure is None:
        return "the check passes"
    if failure.timed_out:
        return f"no verdict: {failure.describe()}"
    if failure.role != "check":
        return f"failed in {failure.where} before any check ran: {failure.describe()}"
    if failure.broken:
        return f"the check itself broke ({failure.where}): {failure.describe()}"
    return None


def test_exercises_are_declared(harness: types.ModuleType) -> None:
    """Every exercise marks its starter, solution, check and known-wrong solutions, folds its
    solutions, and its check reads nothing that only the reference solution defines."""
    problems: list[str] = []
    for path in sorted((REPO_ROOT / "concepts").glob("*.md")):
        blocks = harness.parse_python_blocks(path)
        problems += harness.item_problems(path, blocks)
        for item in harness.parse_items(blocks):
            if item.is_exercise and item.role("solution"):
                problems += harness.check_problems(item, blocks)
    assert not problems, "\n".join(problems)


def test_fragments_are_under_ten_percent(harness: types.ModuleType) -> None:
    paths = sorted((REPO_ROOT / "concepts").glob("*.md"))
    blocks = [b for p in paths for b in harness.parse_python_blocks(p)]
    if not blocks:
        pytest.fail("concepts/ holds no python blocks")
    fragments = [b for b in blocks if b.is_fragment]
    assert len(fragments) / len(blocks) < MAX_FRAGMENT_SHARE, (
        f"{len(fragments)} of {len(blocks)} blocks are fragments: "
        + ", ".join(f"{b.path.name}:{b.line}" for b in fragments)
    )


def _markdown_files() -> list[Path]:
    files = sorted((REPO_ROOT / "concepts").glob("*.md"))
    files += [
        REPO_ROOT / name for name in ("ROADMAP.md", "README.md") if (REPO_ROOT / name).exists()
    ]
    files += sorted((REPO_ROOT / "projects").glob("*/README.md"))
    return files


@pytest.mark.parametrize("md_file", _markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_exist(md_file: Path) -> None:
    text = md_file.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code are examples
    missing: list[str] = []
    for match in LINK_RE.finditer(text):
        target = match["target"].split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # same-page anchor or absolute URL
        if not (md_file.parent / target).exists():
            missing.append(match["target"])
    assert not missing, f"{md_file.name} links to paths that do not exist: {missing}"


def test_every_python_block_parses(harness: types.ModuleType) -> None:
    """Fragments are not run, but they must still be valid Python."""
    for path in sorted((REPO_ROOT / "concepts").glob("*.md")):
        for block in harness.parse_python_blocks(path):
            try:
                compile(block.source, f"{path.name}:{block.line}", "exec")
            except SyntaxError as exc:
                if block.is_fragment and "syntax" in (block.fragment_reason or "").lower():
                    continue
                pytest.fail(f"{path.name}, block at line {block.line}: {exc}")
