"""The batch manifest: one JSON object per line, appended and fsynced one record at a time.

A killed job leaves at worst a torn last line, which reading ignores and the next append cuts off
first, so the manifest never needs repair. Later records win over earlier ones for the same output
(a rerun that re-codes a changed source appends a new record; nothing is ever rewritten in place).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from ...bitstream.errors import FpcodecError

MANIFEST_NAME = "manifest.jsonl"


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All complete records of a manifest ([] when it does not exist).

    Only the last line may be torn (a kill during a write); a bad line anywhere else means the file
    is not a manifest this program wrote, and is refused.
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            if i == len(lines) - 1:  # no newline after it: a write that never finished
                break
            raise FpcodecError(f"{path}: line {i + 1} is not a manifest record ({exc})") from None
        records.append(rec)
    return records


def latest(records: list[dict[str, Any]], key: str = "output") -> dict[str, dict[str, Any]]:
    """The last record for each output path."""
    return {rec[key]: rec for rec in records if key in rec}


class ManifestWriter:
    """Appends records durably; a torn tail left by an earlier kill is cut off on opening."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "ab")
        size = self._fh.seek(0, os.SEEK_END)
        if size:
            with open(self.path, "rb") as fh:
                fh.seek(max(0, size - 1))
                last = fh.read(1)
            if last != b"\n":
                data = self.path.read_bytes()
                keep = data.rfind(b"\n") + 1
                self._fh.truncate(keep)
                self._fh.seek(keep)
                self._sync()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line and make it durable before returning."""
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "ManifestWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_ok(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The latest successful record of each output."""
    for rec in latest(records).values():
        if rec.get("status") == "ok":
            yield rec
