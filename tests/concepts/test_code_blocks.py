"""Every python block in concepts/*.md runs, and fragments stay rare and explained."""

from __future__ import annotations

import re
import sys
import traceback
import types
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_FRAGMENT_SHARE = 0.10
LINK_RE = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_concept_file_code_runs(concept_file, parse_blocks, executed_blocks, tmp_path, monkeypatch):
    """Run the file's blocks in order in one module, as a learner would paste them in a script."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # A real, registered module (not a bare dict): Pydantic and FastAPI resolve annotations
    # through sys.modules[__name__], exactly as they would for a learner's script.
    module = types.ModuleType(f"concept_{concept_file.stem}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in parse_blocks(concept_file):
        if block.is_fragment:
            continue
        # dont_inherit: this test module's `from __future__ import annotations` must not leak
        # into the learner's code.
        code = compile(
            block.source, f"{concept_file.name}:block@line{block.line}", "exec", dont_inherit=True
        )
        try:
            exec(code, module.__dict__)  # noqa: S102 - running the curriculum's own code is the point
        except BaseException as exc:  # pragma: no cover - reported, then re-raised
            detail = "".join(traceback.format_exception(exc))
            pytest.fail(
                f"{concept_file.name}, block at line {block.line} failed:\n{detail}",
                pytrace=False,
            )
        executed_blocks.append(block)


def test_fragments_are_under_ten_percent(parse_blocks):
    blocks = [b for p in sorted((REPO_ROOT / "concepts").glob("*.md")) for b in parse_blocks(p)]
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
def test_relative_links_exist(md_file: Path):
    text = md_file.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # links inside code are examples
    missing = []
    for match in LINK_RE.finditer(text):
        target = match["target"].split("#", 1)[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # same-page anchor or absolute URL
        if not (md_file.parent / target).exists():
            missing.append(match["target"])
    assert not missing, f"{md_file.name} links to paths that do not exist: {missing}"


def test_every_python_block_parses(parse_blocks):
    """Fragments are not run, but they must still be valid Python."""
    for path in sorted((REPO_ROOT / "concepts").glob("*.md")):
        for block in parse_blocks(path):
            try:
                compile(block.source, f"{path.name}:{block.line}", "exec")
            except SyntaxError as exc:
                if block.is_fragment and "syntax" in (block.fragment_reason or "").lower():
                    continue
                pytest.fail(f"{path.name}, block at line {block.line}: {exc}")
