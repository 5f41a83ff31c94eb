"""Freeze the evaluation corpus: the curriculum's concept files, copied from one commit.

The questions in ``questions.jsonl`` are labelled with passages quoted from these copies,
so the copies must not move when the curriculum is edited: they are taken from a git
revision (not the working tree, which may hold someone's half-finished edit) and written
once, with a manifest of their hashes. Re-running refuses to overwrite an existing
snapshot unless ``--force`` is given; relabel the questions after doing that.

    uv run --frozen python projects/04_agentic_rag/eval/build_corpus.py --revision HEAD
    uv run --frozen python projects/04_agentic_rag/eval/build_corpus.py --check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

EVAL_DIR = Path(__file__).resolve().parent
CORPUS_DIR = EVAL_DIR / "corpus"
MANIFEST = CORPUS_DIR / "MANIFEST.json"
REPO_ROOT = EVAL_DIR.parents[2]
SOURCE_DIR = "concepts"
# Topics 01..12, concept files only (the *_Practice.md exercise files are left out).
CONCEPT_FILE = re.compile(r"^(0[1-9]|1[0-2])_(?!.*Practice).+\.md$")


def _git(*args: str) -> bytes:
    git = shutil.which("git")
    if git is None:
        raise SystemExit("git is not on PATH")
    # Fixed arguments plus a revision and file names read from git itself.
    return subprocess.run(  # noqa: S603
        [git, "-C", str(REPO_ROOT), *args], check=True, capture_output=True
    ).stdout


def concept_files(revision: str) -> list[str]:
    """The concept files' paths at ``revision``, in topic order."""
    names = _git("ls-tree", "--name-only", f"{revision}:{SOURCE_DIR}").decode().split()
    return sorted(name for name in names if CONCEPT_FILE.match(name))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(revision: str, *, force: bool) -> dict[str, Any]:
    if MANIFEST.exists() and not force:
        raise SystemExit(f"{MANIFEST} exists: the snapshot is frozen (use --force to rebuild)")
    commit = _git("rev-parse", "--verify", f"{revision}^{{commit}}").decode().strip()
    names = concept_files(commit)
    if len(names) != 12:
        raise SystemExit(f"expected 12 concept files at {commit}, found {len(names)}")
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in CORPUS_DIR.glob("*.md"):
        stale.unlink()
    files = []
    for name in names:
        data = _git("show", f"{commit}:{SOURCE_DIR}/{name}")
        (CORPUS_DIR / name).write_bytes(data)
        files.append({"file": name, "bytes": len(data), "sha256": sha256(data)})
    manifest = {"source": SOURCE_DIR, "commit": commit, "files": files}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def check() -> list[str]:
    """Differences between the snapshot on disk and its manifest (empty when intact)."""
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    problems = []
    listed = {entry["file"] for entry in manifest["files"]}
    on_disk = {path.name for path in CORPUS_DIR.glob("*.md")}
    problems += [f"{name}: not in the manifest" for name in sorted(on_disk - listed)]
    for entry in manifest["files"]:
        path = CORPUS_DIR / entry["file"]
        if not path.is_file():
            problems.append(f"{entry['file']}: missing")
        elif sha256(path.read_bytes()) != entry["sha256"]:
            problems.append(f"{entry['file']}: changed since the snapshot")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revision", default="HEAD", help="the commit to copy from")
    parser.add_argument("--force", action="store_true", help="replace an existing snapshot")
    parser.add_argument("--check", action="store_true", help="verify the snapshot's hashes")
    args = parser.parse_args()
    if args.check:
        problems = check()
        print("\n".join(problems) or "snapshot intact")
        sys.exit(1 if problems else 0)
    manifest = build(args.revision, force=args.force)
    print(f"copied {len(manifest['files'])} files from {manifest['commit']}")


if __name__ == "__main__":
    main()
