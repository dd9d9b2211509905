"""Helpers shared by the golden-fixture generators (paths, hashing, stable JSON output)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

# scripts/golden/_common.py -> repository root
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def herd_home() -> Path:
    """$HERD_HOME, or ~/.cache/herd (the same default as the cli and scripts/setup-test-data.sh)."""
    return Path(os.environ.get("HERD_HOME") or Path.home() / ".cache" / "herd")


def test_data_dir() -> Path:
    return Path(os.environ.get("HERD_TEST_DATA") or herd_home() / "testdata")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps(obj: Any) -> str:
    # ensure_ascii=False keeps the fixtures readable; json still escapes control characters.
    return json.dumps(obj, ensure_ascii=False)


def write_json_lines_array(path: Path, items: Iterable[Any]) -> None:
    """A JSON array with one element per line: valid JSON that still diffs line by line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(dumps(x) for x in items)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")


def write_json(path: Path, obj: Any, indent: int | None = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def log(msg: str) -> None:
    print(f"[golden] {msg}", flush=True)


def run_in_venv(script: str, name: str, requirements: Path, python: str | None = None,
                pip_args: tuple[str, ...] = ()) -> None:
    """Re-runs `script` inside ${HERD_HOME}/<name>, made from `requirements` with
    `pip install --no-deps` (so exactly the pinned set), when the caller's references did
    not import here. Reinstalls when the requirements file changes; never returns."""
    import subprocess
    import sys

    venv = herd_home() / name
    py = venv / "bin" / "python"
    # A venv's python is a link to the base interpreter, so compare prefixes, not paths.
    if Path(sys.prefix).resolve() == venv.resolve():
        raise SystemExit(f"the references do not import in {venv}; delete it and rerun")
    stamp = venv / f".herd-{name}-requirements.sha256"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if not (py.exists() and stamp.exists() and stamp.read_text().strip() == want):
        log(f"venv {venv}: installing {requirements.name}")
        if not py.exists():
            subprocess.run([python or sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
        subprocess.run([*pip, *pip_args, "-r", str(requirements)], check=True)
        stamp.write_text(want + "\n")
    os.execv(str(py), [str(py), script, *sys.argv[1:]])
