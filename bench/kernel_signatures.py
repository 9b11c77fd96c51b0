"""Which compiled kernels a job compiles more than once.

numba compiles a kernel for each distinct set of argument types it meets (1-5 s a kernel, most of
that for the ``parallel=True`` ones) and caches each compiled version on disk, so the first run of
``fpcodec encode`` or ``decode`` on a machine pays for every version it meets. When the encoder
and the decoder hand a kernel different types (int32 or int64 indices, a uint8 or a float32
canvas), the decoder's first run compiles it again even after the encoder's. The codec therefore
gives every kernel one type per argument, whoever calls it; this tool checks that::

    python -m fpcodec.bench.kernel_signatures "encode CLIP -o /tmp/x.fpc -y -q" \\
        "decode /tmp/x.fpc -o /tmp/x.apng -y -q" ...

Runs the ``fpcodec`` commands in this process, one after another, then lists every kernel of the
package that was compiled, with its number of versions; exits 1 if any has more than one.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def compiled_kernels() -> dict[str, list[str]]:
    """Every numba kernel of the package's loaded modules that was compiled in this process: its
    dotted name -> the argument types of each version."""
    found: dict[str, list[str]] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("fpcodec.") or module is None:
            continue
        for attr, obj in vars(module).items():
            sigs = getattr(obj, "signatures", None)
            if sigs and hasattr(obj, "py_func") and getattr(obj.py_func, "__module__", "") == name:
                found[f"{name.removeprefix('fpcodec.')}.{attr}"] = [str(s) for s in sigs]
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.kernel_signatures", description=__doc__.split("\n")[0]
    )
    ap.add_argument("commands", nargs="+", help='fpcodec command lines, each one argument: "encode ..."')
    args = ap.parse_args(argv)
    from ..codec import cli

    for command in args.commands:
        rc = cli.main(shlex.split(command))
        if rc != 0:
            print(f"fpcodec {command}: exit status {rc}", file=sys.stderr)
            return 2
    kernels = compiled_kernels()
    twice = {k: v for k, v in kernels.items() if len(v) > 1}
    for name in sorted(kernels):
        versions = kernels[name]
        print(f"{len(versions)}  {name}")
        if len(versions) > 1:
            for sig in versions:
                print(f"     {sig}")
    print(f"{len(kernels)} kernels compiled, {len(twice)} of them more than once")
    return 1 if twice else 0


if __name__ == "__main__":
    raise SystemExit(main())
