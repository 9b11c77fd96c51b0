"""The ``fpcodec`` command line: encode, decode, info, train, bench.

``main(argv) -> int`` is importable and testable in-process; torch is only imported by the commands
and models that need it. Every FpcodecError becomes one ``fpcodec: error: ...`` line and exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..bitstream.errors import FpcodecError, FpcodecWarning, InputError

PROG = "fpcodec"


def _progress(total: int | None, desc: str, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="frame", disable=quiet or not sys.stderr.isatty(),
                leave=False)


def cmd_encode(args: argparse.Namespace) -> int:
    from .io import VideoReader, atomic_output
    from .pipeline import Encoder
    reader = VideoReader(args.input, max_pixels=args.max_pixels)
    info = reader.info
    out = Path(args.output) if args.output else Path(args.input).with_suffix(".fpc")
    started = time.perf_counter()
    with atomic_output(out, args.force) as tmp, open(tmp, "wb") as fh:
        enc = Encoder(fh, width=info.width, height=info.height, channels=info.channels,
                      model=args.model, time_base=info.time_base, loop=info.loop,
                      frame_count=info.frame_count, device=args.device,
                      max_pixels=args.max_pixels, use_palette=not args.no_palette)
        with _progress(info.frame_count, "encode", args.quiet) as bar:
            for frame, duration in reader.frames():
                enc.write(frame, duration)
                bar.update()
        enc.close()
    elapsed = time.perf_counter() - started
    if not args.quiet:
        size = out.stat().st_size
        pixels = info.width * info.height * enc.frames_written
        print(f"{out}: {enc.frames_written} frames {info.width}x{info.height}"
              f"{' RGBA' if info.channels == 4 else ''}, {size} bytes, "
              f"{8 * size / pixels:.3f} bits/pixel, model {enc.predictor.name}, "
              f"{enc.frames_written / elapsed:.1f} frames/s")
    return 0


@contextmanager
def _open_decoder(path: str, args: argparse.Namespace, load_model: bool = True):
    """A Decoder reading ``path`` as it goes (the stream is never held in memory whole)."""
    from .pipeline import Decoder
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file: {p}")
    with open(p, "rb") as fh:
        yield Decoder(fh, device=getattr(args, "device", "auto"), max_pixels=args.max_pixels,
                      load_model=load_model)


def cmd_decode(args: argparse.Namespace) -> int:
    from .io import write_frames
    out = args.output or str(Path(args.input).with_suffix(".apng"))
    if os.path.exists(out) and not args.force:
        raise FpcodecError(f"{out} exists (use -y/--force to overwrite)")
    # A first pass over the chunks (no pixels decoded) checks the stream's structure and gives the
    # durations, which the APNG writer needs up front; the frames then go to the writer one at a time.
    with _open_decoder(args.input, args, load_model=False) as scan:
        durations = [rec.duration for rec in scan.records()]
    count = 0
    started = time.perf_counter()
    with _open_decoder(args.input, args) as dec, _progress(len(durations), "decode", args.quiet) as bar:
        h = dec.header

        def frames():
            nonlocal count
            for f in dec:
                count += 1
                bar.update()
                yield f.pixels

        warnings = write_frames(out, frames(), durations, h.time_base, h.loop, force=args.force,
                                allow_lossy=args.lossy)
    elapsed = time.perf_counter() - started
    for w in warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print(f"{out}: {count} frames {h.width}x{h.height}, {count / elapsed:.1f} frames/s "
              f"decoded and written")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _open_decoder(args.input, args, load_model=False) as dec:
        h = dec.header
        entries = list(dec.frame_records())
    records = [rec for rec, _, _ in entries]
    total_bytes = Path(args.input).stat().st_size
    pixels = h.width * h.height * len(records)
    durations = [r.duration for r in records]
    seconds = float(sum(durations) * h.time_base)
    loop = "none (play once)" if h.loop is None else ("forever" if h.loop == 0 else str(h.loop))
    print(f"file:        {args.input} ({total_bytes} bytes), format version {dec.version}")
    print(f"frames:      {len(records)} x {h.width}x{h.height} {'RGBA' if h.has_alpha else 'RGB'}")
    print(f"timing:      time base {h.time_base}, {seconds:.3f} s total, loop {loop}")
    print(f"predictor:   {dec.model_name} (id {h.model_id}), weights sha256 {h.weights_hash.hex()}")
    print(f"coder:       {h.coder}")
    print(f"bits/pixel:  {8 * total_bytes / pixels:.3f} "
          f"({8 * total_bytes / (pixels * h.channels):.3f} per subpixel)")
    if not args.quiet:
        print("frame  mode     duration  bytes  palette  bits/pixel")
        from .frame_coding import MODE_NAMES as modes
        for r, _, palette_bytes in entries:
            size = len(r.payload) + palette_bytes
            print(f"{r.index:5d}  {modes.get(r.mode, r.mode):7}  {r.duration:8d}  {len(r.payload):5d}  "
                  f"{palette_bytes:7d}  {8 * size / (h.width * h.height):.3f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..models import registry
    parser = argparse.ArgumentParser(prog=PROG, description="Lossless learned video codec.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
        p.add_argument("--max-pixels", type=int, default=None,
                       help="largest frame (width*height) accepted; default 178956970, with a warning "
                            "above 89478485 (Pillow's limits)")

    p = sub.add_parser("encode", help="encode a GIF or video to an .fpc stream")
    p.add_argument("input")
    p.add_argument("-o", "--output", help="output stream (default: INPUT with .fpc)")
    p.add_argument("-m", "--model", default=registry.DEFAULT_MODEL, choices=registry.available())
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--no-palette", action="store_true",
                   help="code every frame in RGB, never as palette indices (for comparisons)")
    p.add_argument("-y", "--force", action="store_true", help="overwrite the output")
    common(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decode an .fpc stream to frames")
    p.add_argument("input")
    p.add_argument("-o", "--output", help=".gif .apng .png .webp .y4m .mp4 or frames_%%04d.png")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("-y", "--force", action="store_true", help="overwrite the output")
    p.add_argument("--lossy", action="store_true",
                   help="allow targets that cannot hold the frames exactly (GIF > 256 colours, MP4, Y4M)")
    common(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="describe an .fpc stream")
    p.add_argument("input")
    common(p)
    p.set_defaults(func=cmd_info)

    for name, (help_text, module) in _LAZY.items():
        _lazy_subcommand(sub, name, help_text, module)
    return parser


#: Subcommands whose modules (and their torch import) load only when the command runs. Each module
#: provides ``add_arguments(parser)`` and ``run(args) -> int``.
_LAZY = {
    "train": ("train a predictor's weights", "fpcodec.models.train"),
    "bench": ("benchmark fpcodec against other codecs", "fpcodec.bench.cli"),
}


def _lazy_subcommand(sub, name: str, help_text: str, module: str) -> None:
    """List ``name`` in the top-level help; ``main`` dispatches it before parsing."""
    sub.add_parser(name, help=help_text, add_help=False)


def _run_lazy(name: str, argv: list[str]) -> int:
    import importlib
    help_text, module = _LAZY[name]
    mod = importlib.import_module(module)
    parser = argparse.ArgumentParser(prog=f"{PROG} {name}", description=help_text)
    mod.add_arguments(parser)
    return mod.run(parser.parse_args(argv))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of what the closed pipe did
    not take cannot print a second error (the recipe of Python's signal module documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. under pytest)
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fpcodec`` command."""
    with warnings.catch_warnings():
        python_way = warnings.showwarning

        def show(message, category, *rest) -> None:  # the project's warnings as one line
            if issubclass(category, FpcodecWarning):
                print(f"{PROG}: warning: {message}", file=sys.stderr)
            else:
                python_way(message, category, *rest)

        warnings.simplefilter("once", FpcodecWarning)  # once per message, however often checked
        warnings.showwarning = show
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in _LAZY:
            return _run_lazy(argv[0], argv[1:])
        args = build_parser().parse_args(argv)
        return args.func(args)
    except FpcodecError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fpcodec info x.fpc | head`: the reader has all it wanted
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a process the pipe killed
    except OSError as exc:
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
