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
