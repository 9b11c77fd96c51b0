"""``fpcodec bench PATH... [--codecs ...] [--models ...] [--repeats N] -o REPORT_DIR``.

A thin layer over ``bench.run`` (harness), ``bench.report`` (markdown/json) and ``bench.plots``.
Wired into the ``fpcodec`` command by ``fpcodec.codec.cli`` and runnable as ``python -m fpcodec.bench``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from .codecs import ALL_CODECS


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.replace(",", " ").split() if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="GIF/video files or folders (searched recursively)"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="REPORT_DIR",
        help="folder for report.md, report.json and the PNG plots (created)",
    )
    parser.add_argument("-y", "--force", action="store_true", help="replace the report already in REPORT_DIR")
    parser.add_argument(
        "--codecs",
        nargs="+",
        default=None,
        metavar="CODEC",
        help=f"external codecs to compare (default: all of {', '.join(ALL_CODECS)}; "
        "'none' for fpcodec only); the input GIF is always listed",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="MODEL",
        help="fpcodec predictors (default: every name in the model registry); "
        "last-frame is always included as the reference",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per codec and file; speeds are medians (default 3)"
    )
    parser.add_argument(
        "--model-repeats",
        type=int,
        default=None,
        metavar="N",
        help="timed runs per fpcodec predictor (default: --repeats)",
    )
    parser.add_argument(
        "--memory-files",
        type=int,
        default=None,
        metavar="N",
        help="measure peak memory on the first N files only (default: all)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the child processes that measure peak memory (RSS)"
    )
    parser.add_argument(
        "--no-gain-sources",
        action="store_true",
        help="skip the extra encodes that split each learned model's gain into scales, means and coupling",
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG plots")
    parser.add_argument("--device", default="cpu", help="device for learned predictors (cpu, cuda)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch threads for learned predictors (default 1; 0 = torch's default)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="compare video in its own pixel format (YUV/gray: planar streams) against FFV1, x264, "
        "x265 and VP9 lossless in that format and JPEG XL on RGB (bench/natural.py): PATHs are "
        "video files or one folder built by natural_corpus; writes NATURAL.md, natural.json, natural.png",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _command_line() -> str:
    argv0 = Path(sys.argv[0]).name if sys.argv else "fpcodec"
    if argv0 == "__main__.py":
        argv0 = "python -m fpcodec.bench"
    return " ".join([argv0] + [shlex.quote(a) for a in sys.argv[1:]])


#: What a report folder holds; a folder with any of these is a report that -y must allow to replace.
REPORT_FILES = (
    "report.md",
    "report.json",
    "bits_per_pixel.png",
    "frame_bits.png",
    "predictions.png",
    "NATURAL.md",
    "natural.json",
    "natural.png",
)


def check_report_dir(out: Path, *, force: bool) -> None:
    """Refuse, before any work, a report folder that cannot be written or holds a report (without -y)."""
    from fpcodec.bitstream.errors import FpcodecError

    if out.exists() and not out.is_dir():
        raise FpcodecError(f"{out} exists and is not a folder")
    if out.is_dir() and not force:
        there = [n for n in REPORT_FILES if (out / n).exists()]
        if there:
            raise FpcodecError(
                f"{out} already holds a report ({', '.join(there)}); use -y/--force to replace it"
            )
    anchor = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not anchor.is_dir() or not os.access(anchor, os.W_OK | os.X_OK):
        raise FpcodecError(f"cannot write a report in {out}: {anchor} is not a writable folder")


def _run_native(args: argparse.Namespace) -> int:
    """``fpcodec bench --native``: the natural-video comparison in each clip's own pixel format."""
    from fpcodec.bitstream.errors import FpcodecError

    from . import natural

    check_report_dir(Path(args.output), force=args.force)
    files = [Path(p) for p in args.paths if not os.path.isdir(p)]
    if len(files) < len(args.paths) and (
        len(args.paths) > 1 or not Path(args.paths[0], "natural_corpus.json").is_file()
    ):
        raise FpcodecError(
            "--native takes video files or one folder built by python -m fpcodec.bench.natural_corpus"
        )
    problem = natural._not_planar(files)
    if problem:
        raise FpcodecError(problem)
    argv = [*map(str, args.paths), "-o", str(args.output)] + (["-q"] if args.quiet else [])
    if args.codecs is not None:
        names = [n for v in args.codecs for n in _names(v)]
        unknown = [n for n in names if n not in natural.CODECS and n != "none"]
        if unknown:
            raise FpcodecError(f"--native compares {', '.join(natural.CODECS)}, not {', '.join(unknown)}")
        argv += ["--codecs", "fpcodec", *[n for n in names if n not in ("none", "fpcodec")]]
    code = natural.main(argv)
    if code:
        raise FpcodecError("the native comparison failed (see above)")
    return 0


def run(args: argparse.Namespace) -> int:
    from fpcodec.bitstream.errors import FpcodecError

    from .plots import write_plots
    from .report import write_json, write_markdown
    from .run import run_bench

    codecs = None
    if args.codecs is not None:
        codecs = [n for v in args.codecs for n in _names(v)]
        if codecs == ["none"]:
            codecs = []
        unknown = [c for c in codecs if c not in ALL_CODECS]
        if unknown:
            raise FpcodecError(f"unknown codec(s) {', '.join(unknown)} (choose from {', '.join(ALL_CODECS)})")
    models = [n for v in args.models for n in _names(v)] if args.models is not None else None
    if args.repeats < 1 or (args.model_repeats is not None and args.model_repeats < 1):
        raise FpcodecError("--repeats and --model-repeats must be at least 1")
    for p in args.paths:
        if not os.path.exists(p):
            raise FpcodecError(f"no such file or folder: {p}")
    if args.native:
        return _run_native(args)
    out = Path(args.output)
    check_report_dir(out, force=args.force)
    if codecs is None or codecs:
        from .codecs import get_adapters

        for adapter in get_adapters(codecs):
            ok, why = adapter.availability()
            if not ok:  # said before the work, on stderr, whatever -q says; the report says it too
                print(
                    f"fpcodec bench: warning: {adapter.name} is not run: {why}"
                    + (" (pip install 'fpcodec[bench]')" if "imagecodecs" in why else ""),
                    file=sys.stderr,
                )
    out.mkdir(parents=True, exist_ok=True)
    result = run_bench(
        args.paths,
        codecs=codecs,
        models=models,
        repeats=args.repeats,
        memory=not args.no_memory,
        device=args.device,
        progress=not args.quiet,
        command=getattr(args, "command_line", None) or _command_line(),
        torch_threads=args.torch_threads or None,
        model_repeats=args.model_repeats,
        memory_files=args.memory_files,
        gain_sources=not args.no_gain_sources,
    )
    plots = {} if args.no_plots else write_plots(result, out)
    write_json(result, out / "report.json")
    md = write_markdown(result, out / "report.md", plots)
    if not args.quiet:
        print(f"{md}: {len(result.files)} files in {result.elapsed_seconds:.1f} s")
        for folder in result.folders[:1]:
            for key, e in folder["codecs"].items():
                if e.get("files_counted"):
                    print(f"  {key:28s} {e['bits_per_pixel']:7.3f} bits/pixel")
        for key, why in result.skipped.items():
            print(f"  skipped {key}: {why[:100]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m fpcodec.bench``), same errors and exit codes as ``fpcodec``."""
    from fpcodec.bitstream.errors import FpcodecError

    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench", description="Benchmark fpcodec against other lossless codecs."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except FpcodecError as exc:
        print(f"fpcodec bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fpcodec bench: interrupted", file=sys.stderr)
        return 130
