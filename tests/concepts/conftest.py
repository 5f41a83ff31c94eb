"""Runs the Python code in the curriculum's markdown files.

Conventions (also in concepts/README.md):
- every fenced block whose info string is ``python`` is executed;
- the blocks of one file run in order in one namespace, in a temporary working directory,
  so a later block can use what an earlier one defined;
- a block that cannot run on its own (a deliberately broken example, a shell session,
  a fragment of a bigger file) is marked by the line ``<!-- fragment: why -->`` right
  above its fence; it is counted, not executed, and the reason is required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONCEPTS_DIR = REPO_ROOT / "concepts"
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
FRAGMENT_RE = re.compile(r"^\s*<!--\s*fragment:\s*(?P<reason>.+?)\s*-->\s*$")


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # 1-based line of the opening fence
    source: str
    fragment_reason: str | None

    @property
    def is_fragment(self) -> bool:
        return self.fragment_reason is not None


def parse_python_blocks(path: Path) -> list[CodeBlock]:
    """Return the ``python`` fenced blocks of a markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        match = FENCE_RE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info, indent = match["fence"], match["info"].strip(), match["indent"]
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1  # closing fence
        if info.split(" ")[0].lower() not in {"python", "py", "python3"}:
            continue
        previous = lines[start - 1] if start > 0 else ""
        fragment = FRAGMENT_RE.match(previous)
        if fragment is None and previous.strip().startswith("<!--") and "fragment" in previous:
            raise ValueError(f"{path.name}:{start}: malformed fragment marker {previous!r}")
        blocks.append(
            CodeBlock(
                path=path,
                line=start + 1,
                source="\n".join(body) + "\n",
                fragment_reason=fragment["reason"] if fragment else None,
            )
        )
    return blocks


def concept_files() -> list[Path]:
    return sorted(CONCEPTS_DIR.glob("*.md"))


def topic_id(path: Path) -> str:
    prefix = path.name.split("_", 1)[0]
    return f"topic{prefix}-{path.stem}" if prefix.isdigit() else path.stem


_EXECUTED = pytest.StashKey[list[CodeBlock]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_EXECUTED] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "concept_file" in metafunc.fixturenames:
        files = concept_files()
        metafunc.parametrize("concept_file", files, ids=[topic_id(p) for p in files])


@pytest.fixture
def executed_blocks(request: pytest.FixtureRequest) -> list[CodeBlock]:
    """The list the summary reads: tests append each block they ran."""
    return request.config.stash[_EXECUTED]


@pytest.fixture
def parse_blocks():  # type: ignore[no-untyped-def]
    return parse_python_blocks


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    executed = config.stash.get(_EXECUTED, [])
    if not executed:
        return
    files = {b.path for b in executed}
    fragments = [b for p in sorted(files) for b in parse_python_blocks(p) if b.is_fragment]
    total = len(executed) + len(fragments)
    share = 100 * len(fragments) / total if total else 0.0
    terminalreporter.write_sep("-", "curriculum code blocks")
    terminalreporter.write_line(
        f"{len(files)} markdown files: {len(executed)} python blocks executed, "
        f"{len(fragments)} marked as fragments ({share:.1f}% of {total})"
    )
