"""What holds the memory when a command's resident set peaks: the numpy buffers its frames reach.

    python -m fpcodec.bench.peak_holders [--from-mb MB] [--top N] -- encode IN.gif -o OUT.fpc -y -q

Runs the ``fpcodec`` command in this process (``cli.main``). A thread reads the process's resident
set size every few milliseconds; at each new high (by 1 MB, above ``--from-mb``) it signals the
main thread, whose handler, run between two bytecodes of the command, walks the command's frames:
every numpy buffer their locals reach (through lists, tuples, dicts, objects' attributes and
closures, a few levels deep) is listed once, under the first name that reaches it, with the size
of its base buffer (a table's view of a larger mapped buffer shows the buffer: pages never written
count there but not in the RSS), and the palette coder's live ``ContextCounts`` with their
tables' sizes. The report is the last snapshot's: the RSS then, the stack, the largest buffers.

Why: memray's and tracemalloc's high-water marks are of what was allocated, not of what is
resident: mappings with room to grow (the count tables') and glibc's kept free memory put their
peak elsewhere, and numba's allocations are not traced. Found with it (bench/SPEED.md, thirty-third
session): `last-frame`'s whole-frame float32 temporaries at the peak of a 1280x720 encode.
Linux only (``/proc/self/statm``, SIGUSR1). An in-process command's peak can differ from the
console script's (``cli.console`` turns the collector off during start-up).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

import numpy as np

#: How deep the walk goes from a frame's local (container or object levels).
DEPTH = 5
#: Items of a container the walk looks at.
ITEMS = 200


def resident_bytes() -> int:
    """This process's resident set size (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _base(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def reachable_buffers(frame: FrameType | None, min_bytes: int = 1 << 18) -> list[tuple[int, str, str, tuple]]:
    """(bytes, first name reaching it, dtype, shape) of each numpy base buffer of at least
    ``min_bytes`` that the locals of ``frame`` and its callers reach, largest first."""
    found: dict[int, tuple[int, str, str, tuple]] = {}
    seen: set[int] = set()

    def walk(obj: object, path: str, depth: int) -> None:
        if id(obj) in seen or depth > DEPTH:
            return
        seen.add(id(obj))
        try:
            look(obj, path, depth)
        except Exception:  # a dead weak proxy, a property that raises: nothing to list there
            pass

    def look(obj: object, path: str, depth: int) -> None:
        if isinstance(obj, np.ndarray):
            base = _base(obj)
            if base.nbytes >= min_bytes:
                found.setdefault(
                    base.__array_interface__["data"][0], (base.nbytes, path, str(base.dtype), base.shape)
                )
            return
        if isinstance(obj, (str, bytes, int, float, bool, type(None), type)):
            return
        if isinstance(obj, dict):
            for key, value in list(obj.items())[:ITEMS]:
                walk(value, f"{path}[{key!r}]"[:160], depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for i, value in enumerate(list(obj)[:ITEMS]):
                walk(value, f"{path}[{i}]", depth + 1)
        else:
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                walk(attrs, f"{path}.", depth + 1)
            for cell_index, cell in enumerate(getattr(obj, "__closure__", None) or ()):
                try:
                    walk(cell.cell_contents, f"{path}<closure {cell_index}>", depth + 1)
                except ValueError:  # an empty cell
                    pass

    while frame is not None:
        name = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"
        for key, value in list(frame.f_locals.items()):
            walk(value, f"{name}.{key}", 0)
        frame = frame.f_back
    return sorted(found.values(), key=lambda row: row[0], reverse=True)


def live_counts() -> list[tuple[list[int], list[int]]]:
    """(entries of each order's base table, of each recent table) of every live ``ContextCounts``."""
    from fpcodec.codec.palette_context import ContextCounts

    return [
        ([0 if t is None else int(t[0].size) for t in obj._tables], [int(t[0].size) for t in obj._recent])
        for obj in gc.get_objects()
        if type(obj) is ContextCounts  # not isinstance: a dead weak proxy raises, some objects warn
    ]


@dataclass
class PeakWatch:
    """Snapshots of the main thread at each new resident-set high (``start``, then ``stop``)."""

    from_bytes: int = 0
    min_bytes: int = 1 << 18
    step: int = 1 << 20
    rss: int = 0
    stack: list[str] = field(default_factory=list)
    buffers: list[tuple[int, str, str, tuple]] = field(default_factory=list)
    counts: list[tuple[list[int], list[int]]] = field(default_factory=list)
    _stop: bool = False
    _pending: bool = False

    def _snapshot(self, signum: int, frame: FrameType | None) -> None:
        try:
            rss = resident_bytes()
            if rss > self.rss:
                stack, f = [], frame
                while f is not None:
                    stack.append(f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno} {f.f_code.co_name}")
                    f = f.f_back
                self.rss, self.stack = rss, stack
                self.buffers = reachable_buffers(frame, self.min_bytes)
                self.counts = live_counts()
        finally:
            self._pending = False

    def _watch(self) -> None:
        high = 0
        while not self._stop:
            rss = resident_bytes()
            if rss > max(high + self.step, self.from_bytes) and not self._pending:
                high = rss
                self._pending = True
                os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.003)

    def start(self) -> None:
        self._previous = signal.signal(signal.SIGUSR1, self._snapshot)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join()
        signal.signal(signal.SIGUSR1, self._previous)

    def report(self, top: int = 25) -> str:
        lines = [
            f"peak RSS {self.rss / 2**20:.1f} MB (the last snapshot); reachable buffers "
            f"{sum(b[0] for b in self.buffers) / 2**20:.1f} MB",
            "stack: " + " <- ".join(self.stack[:10]),
        ]
        lines += [
            f"{n / 2**20:8.2f} MB {dtype:8s} {str(shape):18s} {path}"
            for n, path, dtype, shape in self.buffers[:top]
        ]
        lines += [f"ContextCounts: tables {tables}, recent {recent}" for tables, recent in self.counts]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.peak_holders", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--from-mb", type=float, default=0.0, help="no snapshot below this RSS (MB)")
    parser.add_argument("--min-kb", type=int, default=256, help="smallest buffer listed (KB)")
    parser.add_argument("--top", type=int, default=25, help="buffers listed")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the fpcodec command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no fpcodec command given (after --)")
    from fpcodec.codec import cli

    watch = PeakWatch(from_bytes=int(args.from_mb * 2**20), min_bytes=args.min_kb << 10)
    watch.start()
    try:
        code = cli.main(command)
    finally:
        watch.stop()
    print(watch.report(args.top))
    return code


if __name__ == "__main__":
    sys.exit(main())
