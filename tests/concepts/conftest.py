"""Runs the Python code in the curriculum's markdown files, and proves that its checks can fail.

Conventions (also in concepts/README.md):
- every fenced block whose info string is ``python`` is executed;
- the blocks of one file run in order in one namespace, in a temporary working directory,
  so a later block can use what an earlier one defined;
- a block that cannot run on its own (a deliberately broken example, a fragment of a
  bigger file) is marked by the line ``<!-- fragment: why -->`` right above its fence; it is
  counted, not executed, and the reason is required;
- an exercise declares its blocks with a marker line right above each fence:
  ``<!-- exercise 3: starter -->``, ``<!-- exercise 3: solution -->``,
  ``<!-- exercise 3: check -->`` and one or more
  ``<!-- exercise 3: mutant: what this wrong solution gets wrong -->``. A concept file proves
  a demo the same way with ``demo NAME`` instead of ``exercise N`` (no starter). A mutant
  runs on top of the solution and redefines the part it gets wrong; it is skipped in the
  top-to-bottom run and run as a variant instead (see ``test_code_blocks.py``).
"""

from __future__ import annotations

import ast
import builtins
import gc
import json
import os
import re
import select
import signal
import symtable
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Literal

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONCEPTS_DIR = REPO_ROOT / "concepts"
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^\n`]*)$")
FRAGMENT_RE = re.compile(r"^\s*<!--\s*fragment:\s*(?P<reason>.+?)\s*-->\s*$")
ITEM_RE = re.compile(
    r"^\s*<!--\s*(?P<kind>exercise|demo)\s+(?P<name>[\w-]+)\s*:\s*"
    r"(?P<role>starter|solution|check|mutant)(?:\s*:\s*(?P<note>.+?))?\s*-->\s*$"
)
EXERCISE_HEADING_RE = re.compile(r"^##\s+Exercise\s+(?P<number>\d+)\b")
SOLUTION_ENV = "CONCEPTS_SOLUTION"
EXERCISE_ENV = "CONCEPTS_EXERCISE"

Role = Literal["starter", "solution", "check", "mutant"]

# The learner's file is only collected when a learner asked for it (make check-topic SOLUTION=...).
collect_ignore = [] if os.environ.get(SOLUTION_ENV) else ["test_learner.py"]


@dataclass(frozen=True)
class CodeBlock:
    path: Path
    line: int  # 1-based line of the opening fence
    source: str
    fragment_reason: str | None = None
    item: str | None = None  # "exercise 3" or "demo budget"
    role: Role | None = None
    note: str | None = None  # a mutant's description
    folded: bool = False  # inside <details> ... </details>
    section: str | None = None  # the "## ..." heading above the block

    @property
    def is_fragment(self) -> bool:
        return self.fragment_reason is not None

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.line}"


def parse_python_blocks(path: Path) -> list[CodeBlock]:
    """Return the ``python`` fenced blocks of a markdown file, in order, with their markers."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[CodeBlock] = []
    open_details = 0
    section: str | None = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        match = FENCE_RE.match(lines[i])
        if not match:
            open_details += stripped.count("<details") - stripped.count("</details>")
            if stripped.startswith("## "):
                section = stripped[3:].strip()
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
        item = ITEM_RE.match(previous)
        if fragment is None and item is None and previous.strip().startswith("<!--"):
            raise ValueError(f"{path.name}:{start}: malformed block marker {previous!r}")
        if item is not None and item["role"] == "mutant" and not item["note"]:
            raise ValueError(f"{path.name}:{start}: a mutant marker must say what is wrong")
        blocks.append(
            CodeBlock(
                path=path,
                line=start + 1,
                source="\n".join(body) + "\n",
                fragment_reason=fragment["reason"] if fragment else None,
                item=f"{item['kind']} {item['name']}" if item else None,
                role=item["role"] if item else None,  # type: ignore[arg-type]
                note=item["note"] if item else None,
                folded=open_details > 0,
                section=section,
            )
        )
    return blocks


@dataclass
class Item:
    """An exercise (or a concept file's demo) whose check must pass and must be able to fail."""

    path: Path
    name: str  # "exercise 3"
    blocks: list[CodeBlock] = field(default_factory=list)

    def role(self, role: Role) -> list[CodeBlock]:
        return [b for b in self.blocks if b.role == role]

    @property
    def is_exercise(self) -> bool:
        return self.name.startswith("exercise ")

    @property
    def first_line(self) -> int:
        return min(b.line for b in self.blocks if b.role != "mutant")

    @property
    def last_line(self) -> int:
        return max(b.line for b in self.role("check"))

    @property
    def slug(self) -> str:
        return self.name.replace(" ", "")

    def solution_names(self) -> set[str]:
        """Names the reference solution defines: what a learner's solution must provide."""
        return set().union(*(defined_names(b.source) for b in self.role("solution")))


def parse_items(blocks: list[CodeBlock]) -> list[Item]:
    items: dict[str, Item] = {}
    for block in blocks:
        if block.item is not None:
            items.setdefault(block.item, Item(block.path, block.item)).blocks.append(block)
    return list(items.values())


def item_problems(path: Path, blocks: list[CodeBlock]) -> list[str]:
    """What is missing or misplaced in a file's exercise and demo declarations."""
    problems: list[str] = []
    items = parse_items(blocks)
    for item in items:
        counts = {role: len(item.role(role)) for role in ("starter", "solution", "check")}
        where = f"{path.name} {item.name}"
        if counts["solution"] != 1 or counts["check"] < 1:
            problems.append(f"{where}: needs one solution and at least one check, has {counts}")
            continue
        if item.is_exercise and counts["starter"] < 1:
            problems.append(f"{where}: has no starter block")
        if not item.role("mutant"):
            problems.append(f"{where}: has no mutant (a known-wrong solution its check must catch)")
        solution = item.role("solution")[0]
        for block in item.blocks:
            if block.role in ("starter", "check") and block.line > item.last_line:
                problems.append(f"{block.label}: {block.role} after the last check")
            if block.role == "mutant" and not block.folded and item.is_exercise:
                problems.append(f"{block.label}: fold known-wrong solutions in <details>")
            if block.role == "check" and block.line < solution.line:
                problems.append(f"{block.label}: a check must come after the solution")
            if block.role == "starter" and block.line > solution.line:
                problems.append(f"{block.label}: the starter must come before the solution")
            heading = EXERCISE_HEADING_RE.match(f"## {block.section}")
            if item.is_exercise and (heading is None or heading["number"] != item.name.split()[1]):
                problems.append(f"{block.label}: {item.name} marker under '## {block.section}'")
        if item.is_exercise and not solution.folded:
            problems.append(f"{solution.label}: fold the reference solution in <details>")
    if path.name.endswith("_Practice.md"):
        declared = {item.name for item in items if item.is_exercise}
        for number in exercise_headings(path):
            if f"exercise {number}" not in declared:
                problems.append(f"{path.name}: '## Exercise {number}' declares no marked blocks")
    return problems


def exercise_headings(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [m["number"] for line in lines if (m := EXERCISE_HEADING_RE.match(line))]


def defined_names(source: str) -> set[str]:
    """Top-level names a block binds (assignments, imports, functions, classes)."""
    table = symtable.symtable(source, "<block>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


def global_names_read(source: str) -> set[str]:
    """Global names a block reads without binding them itself."""
    table = symtable.symtable(source, "<block>", "exec")
    own = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    read = {s.get_name() for s in table.get_symbols() if s.is_referenced()}

    def walk(scope: symtable.SymbolTable) -> None:
        for child in scope.get_children():
            read.update(s.get_name() for s in child.get_symbols() if s.is_global())
            walk(child)

    walk(table)
    return read - own - set(dir(builtins))


VARIANT_SECONDS = 30.0
BROKEN_CODE = (NameError, ImportError, SyntaxError)


@dataclass(frozen=True)
class Failure:
    """Why a variant stopped: where, in which role of block, and with what."""

    where: str  # the block (or learner file) that raised
    role: Role | None
    kind: str  # the exception's type name
    message: str
    broken: bool  # NameError, ImportError, SyntaxError: the code is broken, not caught
    traceback: str = ""
    timed_out: bool = False

    def describe(self) -> str:
        return f"{self.kind}: {self.message}".strip().split("\n")[0][:300]


@dataclass(frozen=True)
class Code:
    """Python source and where it comes from: tracebacks point at the markdown file's lines."""

    source: str
    path: str
    first_line: int = 1  # the file's line number of the source's first line

    @property
    def label(self) -> str:
        return f"{Path(self.path).name}:{self.first_line}"

    @classmethod
    def of(cls, block: CodeBlock) -> Code:
        return cls(block.source, str(block.path), block.line + 1)


def execute(code: Code, namespace: dict[str, object]) -> None:
    tree = ast.parse(code.source, code.path)
    ast.increment_lineno(tree, code.first_line - 1)
    # dont_inherit: this module's `from __future__ import annotations` must not leak into the
    # learner's code (Pydantic and FastAPI read real annotations).
    exec(compile(tree, code.path, "exec", dont_inherit=True), namespace)  # noqa: S102


def format_failure(exc: BaseException) -> str:
    """The traceback from the curriculum's own code on: this module's frames are noise."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run_file(
    path: Path,
    module: types.ModuleType,
    before_item: Callable[[Item], None] = lambda item: None,
    stop_before: Item | None = None,
) -> list[CodeBlock]:
    """Run a file's blocks top to bottom (fragments and mutants skipped), calling
    ``before_item`` when an exercise or demo starts; return the blocks run."""
    blocks = parse_python_blocks(path)
    starts = {item.first_line: item for item in parse_items(blocks)}
    ran: list[CodeBlock] = []
    for block in blocks:
        if block.line in starts:
            if stop_before is not None and starts[block.line].name == stop_before.name:
                return ran
            before_item(starts[block.line])
        if block.is_fragment or block.role == "mutant":
            continue
        try:
            execute(Code.of(block), module.__dict__)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            detail = format_failure(exc)
            pytest.fail(f"{path.name}, block at line {block.line} failed:\n{detail}", pytrace=False)
        ran.append(block)
    return ran


def run_variant(
    base: types.ModuleType, item: Item, solution: list[Code], workdir: Path, *, quiet: bool = True
) -> Failure | None:
    """One variant: see ``run_variants``."""
    return run_variants(base, item, [(solution, workdir)], quiet=quiet)[0]


def run_variants(
    base: types.ModuleType,
    item: Item,
    variants: list[tuple[list[Code], Path]],
    *,
    quiet: bool = True,
) -> list[Failure | None]:
    """Run an item's blocks again from the state ``base`` had when the item started, once per
    variant, with the variant's code (zero or more pieces) in place of the reference solution.

    Each variant runs in a forked child: it inherits the module as it is (imports, setup,
    earlier exercises) and can change nothing the reference run will see afterwards (tables
    registered on a shared metadata, routes, environment, files: it works in its own
    directory). The variants of one item run at the same time, which keeps the suite fast on
    a machine with several cores; curriculum code that writes outside its working directory
    must therefore use fresh temporary paths. A child that hangs is killed after
    ``VARIANT_SECONDS``."""
    blocks = parse_python_blocks(item.path)
    span = [
        b
        for b in blocks
        if item.first_line <= b.line <= item.last_line and not b.is_fragment and b.role != "mutant"
    ]
    gc.freeze()  # the children's collections then skip the inherited heap instead of copying it
    try:
        children = [_spawn(base, item, span, code, workdir, quiet) for code, workdir in variants]
    finally:
        gc.unfreeze()
    deadline = time.monotonic() + VARIANT_SECONDS
    return [_collect(pid, channel, item, deadline) for pid, channel in children]


def _spawn(
    base: types.ModuleType,
    item: Item,
    span: list[CodeBlock],
    solution: list[Code],
    workdir: Path,
    quiet: bool,
) -> tuple[int, IO[str]]:
    workdir.mkdir(parents=True)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report, and leave without running any of pytest's cleanup
        os.close(read_end)
        status = 0
        try:
            if quiet:  # both the file descriptors and pytest's capture objects
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
            os.chdir(workdir)
            sys.dont_write_bytecode = True  # modules a variant writes must not leave stale .pyc
            failure = _run_span(base, item, span, solution)
            report = {} if failure is None else asdict(failure)
            with os.fdopen(write_end, "w", encoding="utf-8") as channel:
                json.dump(report, channel)
        except BaseException:  # the child must never return into pytest
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, os.fdopen(read_end, encoding="utf-8")


def _collect(pid: int, channel: IO[str], item: Item, deadline: float) -> Failure | None:
    with channel:
        ready, _, _ = select.select([channel], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            message = f"no verdict after {VARIANT_SECONDS:.0f} s"
            return Failure(item.name, None, "Timeout", message, broken=False, timed_out=True)
        raw = channel.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not raw:
        return Failure(item.name, None, "ChildError", "the variant's process died", broken=True)
    report = json.loads(raw)
    return Failure(**report) if report else None


def _run_span(
    module: types.ModuleType,
    item: Item,
    span: list[CodeBlock],
    solution: list[Code],
) -> Failure | None:
    for block in span:
        replaced = block.role == "solution" and block.item == item.name
        for code in solution if replaced else [Code.of(block)]:
            try:
                execute(code, module.__dict__)
            except BaseException as exc:  # every failure is a verdict to report
                return Failure(
                    where=code.label,
                    role="solution" if replaced else block.role,
                    kind=type(exc).__name__,
                    message=str(exc),
                    broken=isinstance(exc, BROKEN_CODE),
                    traceback=format_failure(exc),
                )
    return None


def check_problems(item: Item, blocks: list[CodeBlock]) -> list[str]:
    """Names a check reads that only the reference solution defines: a learner's own solution
    would meet a NameError there instead of the check's verdict."""
    problems: list[str] = []
    wanted = item.solution_names()
    for check in item.role("check"):
        available: set[str] = set()
        for block in blocks:
            if block.line >= check.line or block.is_fragment or block.role == "mutant":
                continue
            if block.role == "solution" and block.item == item.name:
                continue
            available |= defined_names(block.source)
        leaning = sorted((global_names_read(check.source) & wanted) - available)
        if leaning:
            problems.append(
                f"{check.label}: the check reads {leaning}, defined only by the reference solution"
            )
    return problems


def concept_files() -> list[Path]:
    return sorted(CONCEPTS_DIR.glob("*.md"))


def topic_id(path: Path) -> str:
    prefix = path.name.split("_", 1)[0]
    return f"topic{prefix}-{path.stem}" if prefix.isdigit() else path.stem


@dataclass
class Tally:
    """What the session ran and proved, for the summary at the end."""

    executed: list[CodeBlock] = field(default_factory=list)
    files: set[Path] = field(default_factory=set)
    exercises: int = 0
    starters_failed: int = 0
    references_passed: int = 0
    mutants: int = 0
    mutants_caught: int = 0
    demos: int = 0
    verdicts: list[str] = field(default_factory=list)  # one line per variant, shown with -v


_TALLY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TALLY] = Tally()


def run_order(path: Path) -> tuple[bool, Path]:
    """Files that import LiteLLM last: it makes the process several times larger, and every
    variant forked after that point pays for it."""
    return "import litellm" in path.read_text(encoding="utf-8"), path


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "concept_file" in metafunc.fixturenames:
        files = sorted(concept_files(), key=run_order)
        metafunc.parametrize("concept_file", files, ids=[topic_id(p) for p in files])
    if "learner_case" in metafunc.fixturenames:
        cases = learner_cases(Path(os.environ[SOLUTION_ENV]), os.environ.get(EXERCISE_ENV, ""))
        ids = [f"{topic_id(p)}-{item.slug if item else 'nothing-attempted'}" for p, item in cases]
        metafunc.parametrize("learner_case", cases, ids=ids)


def learner_cases(solution: Path, exercise: str) -> list[tuple[Path, Item | None]]:
    """The exercises a learner's file answers: the one named by ``exercise`` (a number), or
    every exercise whose reference solution defines a name the file defines too. A practice
    file with no such exercise gets one case that says so."""
    names = defined_names(solution.read_text(encoding="utf-8"))
    cases: list[tuple[Path, Item | None]] = []
    for path in concept_files():
        if not path.name.endswith("_Practice.md"):
            continue
        exercises = [i for i in parse_items(parse_python_blocks(path)) if i.is_exercise]
        if exercise.strip():
            chosen = [i for i in exercises if i.name.split()[1] == exercise.strip().lstrip("0")]
        else:
            chosen = [i for i in exercises if i.solution_names() & names]
        cases += [(path, item) for item in chosen] or [(path, None)]
    return cases


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    """The counts the summary prints: tests add what they ran and proved."""
    return request.config.stash[_TALLY]


@pytest.fixture(scope="session")
def harness() -> types.ModuleType:
    """This module, the parsing and running machinery, for the test modules: under
    ``--import-mode=importlib`` they cannot import a sibling module by name."""
    return sys.modules[__name__]


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    tally = config.stash.get(_TALLY, None)
    if tally is None or not tally.files:
        return
    fragments = [b for p in sorted(tally.files) for b in parse_python_blocks(p) if b.is_fragment]
    total = len(tally.executed) + len(fragments)
    share = 100 * len(fragments) / total if total else 0.0
    mutants = sum(1 for b in tally.executed if b.role == "mutant")
    terminalreporter.write_sep("-", "curriculum code blocks")
    terminalreporter.write_line(
        f"{len(tally.files)} markdown files: {len(tally.executed)} python blocks executed "
        f"({mutants} of them known-wrong solutions, run as variants), "
        f"{len(fragments)} marked as fragments ({share:.1f}% of {total})"
    )
    if tally.exercises or tally.demos:
        terminalreporter.write_sep("-", "curriculum exercise checks")
        terminalreporter.write_line(
            f"{tally.exercises} exercises: {tally.references_passed} checks pass on their "
            f"reference solution, {tally.starters_failed} fail on their starter code; "
            f"{tally.demos} concept-file demos checked the same way; "
            f"{tally.mutants_caught} of {tally.mutants} known-wrong solutions caught"
        )
        if config.option.verbose > 0:
            for verdict in tally.verdicts:
                terminalreporter.write_line(f"  {verdict}")
