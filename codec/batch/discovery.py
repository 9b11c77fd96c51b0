"""Which files a batch works on, and where each one's output goes.

Sources are folders (walked recursively with the benchmark's ``discover``, so both find the same
videos), single files, and ``@LIST`` text files naming one path per line. Outputs mirror the input
tree under the output folder: a folder argument keeps its own name (``cp -r`` style, so two folder
arguments cannot collide), a file argument keeps its path when that is relative and stays below the
current folder, and otherwise only its name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from ...bitstream.errors import InputError


@dataclass(frozen=True)
class Job:
    """One file of a batch: where it is and its path relative to the output folder (POSIX form)."""

    source: str
    rel: str


def _read_list(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the list of paths {path} ({exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _file_rel(path: str) -> str:
    p = PurePosixPath(Path(path).as_posix())
    if not p.is_absolute() and ".." not in p.parts:
        return str(PurePosixPath(*[part for part in p.parts if part != "."]))
    return p.name


def walk_streams(folder: Path) -> list[tuple[Path, list[str]]]:
    """Every ``.fpc`` stream under ``folder`` (``discover``'s shape, for ``batch decode``)."""
    return [(f, []) for f in sorted(folder.rglob("*")) if f.is_file() and f.suffix.lower() == ".fpc"]


def find_jobs(sources: Sequence[str], suffix: str = "", walk: Callable | None = None) -> list[Job]:
    """Every file named by ``sources``, in a stable order, with its mirrored output path.

    ``suffix`` is appended to each output path (``.fpc`` for encoding). Folders are walked with
    ``walk(folder) -> [(file, labels)]``, by default the benchmark's ``discover`` (videos). Folders and ``@LIST`` files
    that do not exist are errors (a typo should not start a job on nothing); a file named in a list
    that does not exist becomes a job that fails on its own, like any other bad file. Two inputs
    that would write the same output are refused before anything runs.
    """
    if walk is None:
        from ...bench.run import discover

        def walk(folder: Path) -> list[tuple[Path, list[str]]]:
            return discover([folder])

    jobs: list[Job] = []
    for src in sources:
        if src.startswith("@"):
            for entry in _read_list(Path(src[1:])):
                p = Path(entry)
                if p.is_dir():
                    jobs += _folder_jobs(p, suffix, walk)
                else:
                    jobs.append(Job(os.path.abspath(p), _file_rel(entry) + suffix))
            continue
        p = Path(src)
        if p.is_dir():
            jobs += _folder_jobs(p, suffix, walk)
        elif p.is_file():
            jobs.append(Job(os.path.abspath(p), _file_rel(src) + suffix))
        else:
            raise InputError(f"no such file or folder: {src}")
    return _dedupe(jobs)


def _folder_jobs(folder: Path, suffix: str, walk: Callable) -> list[Job]:
    top = folder.resolve().name or "root"
    return [
        Job(os.path.abspath(f), str(PurePosixPath(top, *f.relative_to(folder).parts)) + suffix)
        for f, _labels in walk(folder)
    ]


def _dedupe(jobs: list[Job]) -> list[Job]:
    seen: dict[str, str] = {}
    by_rel: dict[str, str] = {}
    out: list[Job] = []
    for job in jobs:
        key = os.path.realpath(job.source)
        if key in seen:
            continue
        if job.rel in by_rel:
            raise InputError(
                f"{job.source} and {by_rel[job.rel]} would both be written to {job.rel}; "
                f"pass their folders instead of the files"
            )
        seen[key] = job.rel
        by_rel[job.rel] = job.source
        out.append(job)
    return out
