"""In-process A/B of two whole fpcodec trees: an old checkout (a git worktree) against the installed
one, decoding the same stream (or encoding the same clip) in one process, the two alternating, so
that a neighbour's load on this shared machine slows both of a pair alike. ``bench/module_ab.py``
swaps one module; a change that spans several (a kernel, its caller and the planes they pass)
needs the whole old tree, which is imported here as a second package, ``fpcodec_old``: a
temporary folder whose ``codec``, ``models``, ``bitstream`` and ``bench`` link to the worktree's
(the codec's imports within itself are relative, so the old tree imports its own modules). The
old tree's kernels are cached in a folder of their own (``--cache-dir``; compiled there on the
first A/B of a tree): numba's cache next to the worktree's files holds kernels cached under the
package name they ran as (``fpcodec``, by ``bench/speed_ab.sh``'s processes), whose loading
imports that name's modules. Checks first that both give the same frames or the same stream, then
prints the medians and the new / old ratio of each adjacent pair.

    git worktree add /tmp/wt_old <commit>
    python -m fpcodec.bench.tree_ab /tmp/wt_old STREAM.fpc --rounds 16
    python -m fpcodec.bench.tree_ab /tmp/wt_old CLIP.gif --encode --rounds 8

Both trees share numba's threads and the process's memory, as two codecs in one player would."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import sys
import tempfile
from types import ModuleType

from .module_ab import decoder, encoder, same_outputs, summary

#: The old tree's folders that are linked into the second package.
PARTS = ("codec", "models", "bitstream", "bench")
#: Those whose kernels the codec runs.
KERNEL_PARTS = ("codec", "models", "bitstream")
OLD_PACKAGE = "fpcodec_old"


def load_old(tree: str, into: str, cache_dir: str) -> ModuleType:
    """The worktree ``tree`` as the package ``fpcodec_old``, its folders linked under ``into``, and
    its kernel modules imported with numba's cache in ``cache_dir``."""
    root = os.path.join(into, OLD_PACKAGE)
    os.makedirs(root, exist_ok=True)
    for part in PARTS:
        source = os.path.join(os.path.abspath(tree), part)
        if not os.path.isdir(source):
            raise SystemExit(f"tree_ab: {tree!r} has no {part}/ folder: not an fpcodec checkout")
        os.symlink(source, os.path.join(root, part))
    open(os.path.join(root, "__init__.py"), "w").close()
    for name in [m for m in sys.modules if m == OLD_PACKAGE or m.startswith(OLD_PACKAGE + ".")]:
        del sys.modules[name]  # an earlier A/B's tree
    import numba

    sys.path.insert(0, into)
    previous, numba.config.CACHE_DIR = numba.config.CACHE_DIR, cache_dir  # read as each kernel is made
    try:
        package = importlib.import_module(OLD_PACKAGE)
        for name in kernel_modules(root):
            importlib.import_module(name)
        return package
    finally:
        numba.config.CACHE_DIR = previous
        sys.path.remove(into)


def kernel_modules(root: str) -> list[str]:
    """The modules of the codec, the bitstream and the models under the package folder ``root``
    that make numba kernels (``@numba.njit``)."""
    names = []
    for part in KERNEL_PARTS:
        for folder, _, files in os.walk(os.path.join(root, part), followlinks=True):
            for file in files:
                path = os.path.join(folder, file)
                if file.endswith(".py") and "@numba.njit" in open(path, encoding="utf-8").read():
                    relative = os.path.relpath(path, os.path.dirname(root))[: -len(".py")]
                    names.append(relative.replace(os.sep, "."))
    return sorted(names)


def default_cache_dir(tree: str) -> str:
    """A cache folder per tree, kept between runs (the old tree's kernels compile once)."""
    digest = hashlib.sha1(os.path.abspath(tree).encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), "fpcodec_tree_ab", digest)


def pairs(runs: dict, data: bytes, rounds: int) -> dict[str, list[float]]:
    """Seconds of ``rounds`` pairs of runs, old first in even rounds, new first in odd ones."""
    times: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(rounds):
        for label in ("old", "new") if r % 2 == 0 else ("new", "old"):
            times[label].append(runs[label](data)[0])
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old_tree", help="an fpcodec checkout (e.g. a git worktree of the base commit)")
    parser.add_argument("stream", help="an .fpc stream (a clip with --encode)")
    parser.add_argument("--encode", action="store_true", help="time encoding the clip instead")
    parser.add_argument("--rounds", type=int, default=8, help="pairs of runs (default 8)")
    parser.add_argument(
        "--cache-dir",
        help="numba's cache for the old tree's kernels (default: one per tree in the temp folder)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as into:
        load_old(args.old_tree, into, args.cache_dir or default_cache_dir(args.old_tree))
        if args.encode:
            runs = {"old": encoder(args.stream, OLD_PACKAGE), "new": encoder(args.stream)}
            data = b""
        else:
            runs = {"old": decoder(OLD_PACKAGE), "new": decoder()}
            with open(args.stream, "rb") as f:
                data = f.read()
        outs = {label: run(data)[1] for label, run in runs.items()}  # also the first calls: kernels loaded
        same = same_outputs(outs["old"], outs["new"])
        what = "stream" if args.encode else f"{len(outs['new'])} frames"
        print(f"{args.stream}: the same {what} from both trees: {same}")
        if not same:
            return 1
        times = pairs(runs, data, args.rounds)
    print(summary(times, None if args.encode else len(outs["new"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
