"""The ``fpcodec`` command line: encode, decode, info, train, bench, batch.

``main(argv) -> int`` is importable and testable in-process; torch is only imported by the commands
and models that need it. Every FpcodecError becomes one ``fpcodec: error: ...`` line and exit 1; a
wrong command line (argparse's errors, UsageError) is the same one line with exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import time
import warnings
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import NoReturn

from ..bitstream import compile_note
from ..bitstream.errors import FormatError, FpcodecError, FpcodecWarning, InputError, out_of_memory
from . import sniff

PROG = "fpcodec"
#: The error of every ``errors.out_of_memory`` exception.
_OUT_OF_MEMORY = "out of memory (frames of this size need more than is free)"


class UsageError(FpcodecError):
    """The command line itself is wrong (missing argument, unknown option): exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors: ``fpcodec: error: ...``, exit status 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} -h)")


class _NoBar:
    """The progress bar where none shows (``-q``, or stderr not a terminal): importing tqdm took
    14 ms of such a command's start-up."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        pass


def _progress(total: int | None, desc: str, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", leave=False)


@contextmanager
def _naming(tmp: str, name: str):
    """Errors about the temporary copy of stdin name what the user typed instead."""
    try:
        yield
    except FpcodecError as exc:
        if tmp == name or tmp not in str(exc):
            raise
        raise type(exc)(str(exc).replace(tmp, name)) from None


def cmd_encode(args: argparse.Namespace) -> int:
    from . import outputs
    from .io import VideoReader
    from .pipeline import Encoder

    if args.input != outputs.STDIO:
        problem = sniff.input_kind(args.input)
        if problem:
            hint = " (fpcodec bench takes folders)" if os.path.isdir(args.input) else ""
            raise InputError(f"{args.input} {problem}{hint}")
    elif not args.output:
        raise UsageError("reading from stdin (-) needs -o/--output (a file, or - for stdout)")
    out_name = args.output or str(Path(args.input).with_suffix(".fpc"))
    outputs.check_output(out_name, force=args.force)
    outputs.check_stream_name(out_name, force=args.force)
    with outputs.readable_path(args.input) as src, _naming(src, outputs.display_name(args.input)):
        native = None if args.rgb else _native_reader(src, args)
        if native is not None:
            return _encode_planar(native, out_name, args)
        from ..models import registry
        from .planar_io import rgb_as_planes, rgb_planes_encoder

        reader = VideoReader(src, max_pixels=args.max_pixels)
        info = reader.info
        # An RGB source of many colours is coded as planes, unless a model or the RGB modes are asked for.
        chosen = args.model is not None or args.weights is not None or args.rgb or args.no_palette
        as_planes = not chosen and rgb_as_planes(reader)
        if args.model is None:
            args.model = registry.DEFAULT_MODEL

        def open_encoder(fh):
            if as_planes:
                return rgb_planes_encoder(fh, reader, max_pixels=args.max_pixels, keyint=args.keyint)
            return Encoder(
                fh,
                width=info.width,
                height=info.height,
                channels=info.channels,
                model=args.model,
                time_base=info.time_base,
                loop=info.loop,
                frame_count=info.frame_count,
                device=args.device,
                max_pixels=args.max_pixels,
                use_palette=not args.no_palette,
                weights=args.weights,
                keyint=args.keyint,
                lz_frames=not args.no_lz,
            )

        layout = f"{info.width}x{info.height}{' RGBA' if info.channels == 4 else ''}"
        coded = (
            f"{'RGBA' if info.channels == 4 else 'RGB'} as planes (planar rule)"
            if as_planes
            else "model {model}"
        )
        return _write_stream(
            out_name, args, open_encoder, reader.frames(), "write", info.frame_count, layout, coded
        )


def _write_stream(
    out_name: str, args, open_encoder, frames, method: str, total, layout: str, coded: str
) -> int:
    """Code ``frames`` ((frame or planes, duration) pairs) into ``out_name`` (atomically; ``-``:
    stdout) through ``open_encoder(file)``'s ``method``, with a progress bar and, unless quiet,
    the one-line summary (``coded`` may name ``{model}``, the encoder's predictor)."""
    from . import outputs
    from .io import atomic_output

    to_stdout = out_name == outputs.STDIO
    started = time.perf_counter()
    with contextlib.nullcontext(None) if to_stdout else atomic_output(out_name, args.force) as tmp:
        with contextlib.nullcontext(outputs.binary_stdout()) if to_stdout else open(tmp, "wb") as raw:
            fh = _Counting(raw)
            enc = open_encoder(fh)
            write = getattr(enc, method)
            with _progress(total, "encode", args.quiet) as bar:
                for frame, duration in frames:
                    write(frame, duration)
                    bar.update()
                    _started()
            enc.close()
            raw.flush()
    elapsed = time.perf_counter() - started
    if not args.quiet:
        h = enc.header
        pixels = h.width * h.height * enc.frames_written
        print(
            f"{outputs.display_name(out_name, 'stdout')}: {_count(enc.frames_written)} {layout}, "
            f"{fh.bytes} bytes, {8 * fh.bytes / pixels:.3f} bits/pixel, "
            f"{coded.format(model=enc.predictor.name)}, {enc.frames_written / elapsed:.1f} frames/s",
            file=sys.stderr if to_stdout else sys.stdout,
        )
    return 0


def _native_reader(src: str, args: argparse.Namespace):
    """``planar_io.native_reader``'s reader of the input's planes (None: coded as RGB frames), and
    a learned predictor named with ``-m`` refused for a video it would not be used on."""
    from ..models import registry
    from .planar_io import native_reader

    reader = native_reader(src, max_pixels=args.max_pixels)
    if reader is None:
        return None
    if args.model not in (None, registry.PLANAR_MODEL):
        raise UsageError(
            f"{reader.source_pix_fmt} video is coded in its own pixel format by the planar rule, "
            f"without a learned predictor; give --rgb to code it as RGB with {args.model}"
        )
    return reader


def _encode_planar(reader, out_name: str, args: argparse.Namespace) -> int:
    """``encode`` of a YUV or gray video: a planar stream (format version 7 and later) of its own samples."""
    from . import packed_layouts
    from .planar_io import planar_encoder

    fmt = reader.pixel_format

    def open_encoder(fh):
        return planar_encoder(fh, reader, max_pixels=args.max_pixels, keyint=args.keyint)

    layout = f"{reader.width}x{reader.height} {fmt.name}"
    if reader.source_pix_fmt in packed_layouts.LAYOUTS:  # the same samples, laid out as planes
        layout += f" (read from {reader.source_pix_fmt})"
    return _write_stream(
        out_name,
        args,
        open_encoder,
        reader.frames(),
        "write_planes",
        None,
        layout,
        "planar (own pixel format)",
    )


class _Counting:
    """A write-only file that counts the bytes passing through (stdout cannot tell its size)."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return self.raw.write(data)


def _count(n: int, what: str = "frame") -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


@contextmanager
def _open_decoder(path: str, args: argparse.Namespace, load_model: bool = True):
    """A Decoder reading ``path`` as it goes (the stream is never held in memory whole)."""
    from ..bitstream.container import MAGIC
    from .pipeline import Decoder

    problem = sniff.input_kind(path)
    if problem:
        raise InputError(f"{path} {problem}")
    with open(path, "rb") as fh:
        head = fh.read(64)
        if not head.startswith(MAGIC):
            kind = sniff.describe(head)
            if kind is not None:
                hint = " (an input for fpcodec encode)" if kind.endswith(("image", "video")) else ""
                raise FormatError(f"{path} is {kind}{hint}, not an fpcodec stream")
        fh.seek(0)
        yield Decoder(
            fh,
            device=getattr(args, "device", "auto"),
            max_pixels=args.max_pixels,
            load_model=load_model,
            weights=getattr(args, "weights", None),
        )


def _frame_selection(args: argparse.Namespace, durations: list[int], time_base) -> range:
    """The frame numbers ``--frames A:B[:S]`` (Python slice semantics) or ``--start T`` (seconds:
    the frame showing at T and all after it) pick; every frame without either."""
    n = len(durations)
    if args.frames is not None:
        parts = args.frames.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            bounds = [int(p) if p.strip() else None for p in parts]
            chosen = range(n)[slice(*bounds)]
        except ValueError:
            raise UsageError(
                f"--frames {args.frames!r}: expected A:B or A:B:STEP with integers "
                f"(Python slice semantics, e.g. 10:20, -5:, ::2)"
            ) from None
        if not chosen:
            raise FpcodecError(f"--frames {args.frames} selects no frame of the {_count(n)} in the stream")
        if chosen.step < 0:
            raise FpcodecError(f"--frames {args.frames}: frames are written forwards, use a positive step")
        return chosen
    if args.start is not None:
        try:
            t = Fraction(args.start)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--start {args.start!r}: expected seconds, e.g. 2.5") from None
        if t < 0:
            raise UsageError(f"--start {args.start}: a time in seconds >= 0")
        ticks = 0
        for i, d in enumerate(durations):
            if (ticks + d) * time_base > t:  # frame i shows from ticks to ticks + d
                return range(i, n)
            ticks += d
        raise FpcodecError(
            f"--start {args.start} is past the end of the stream ({float(ticks * time_base):.3f} s)"
        )
    return range(n)


def _ranges(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` as ``3-5, 9``."""
    out: list[str] = []
    for k in numbers:
        if out and out[-1][1] == k - 1:
            out[-1][1] = k
        else:
            out.append([k, k])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in out)


#: Exit status of ``decode --salvage`` when frames were lost (the recovered ones are written).
EXIT_SALVAGED = 3


def cmd_decode(args: argparse.Namespace) -> int:
    from . import outputs
    from .io import write_frames

    if args.input == outputs.STDIO and not args.output:
        raise UsageError("reading from stdin (-) needs -o/--output (a file, or - with --format)")
    if args.salvage and (args.frames is not None or args.start is not None):
        raise UsageError("--salvage decodes the whole stream; it does not go with --frames or --start")
    if args.frames is not None and args.start is not None:
        raise UsageError("give --frames or --start, not both")
    out = args.output or str(Path(args.input).with_suffix(".apng"))
    to_stdout = out == outputs.STDIO
    report = None
    started = time.perf_counter()
    # The output is checked before any work; what only a planar stream may write (.y4m without
    # --lossy) is checked once the stream's header says what it holds.
    fmt = outputs.check_frames_output(out, args.format, force=args.force, lossy=args.lossy, planar=True)
    if to_stdout and fmt == "pattern":
        raise FpcodecError("a PNG sequence cannot go to stdout")
    with outputs.readable_path(args.input) as src, _naming(src, outputs.display_name(args.input)):
        with _open_decoder(src, args, load_model=False) as peek:
            planar = peek.pixel_format is not None
        if not planar:
            outputs.check_frames_output(out, args.format, force=args.force, lossy=args.lossy, planar=False)
        if args.salvage:
            frame_source = _salvaged(src, args)
            report, durations = next(frame_source)
            chosen = None
        else:
            # A first pass over the chunks (no pixels decoded) checks the stream's structure and gives
            # the durations, which the APNG writer needs up front; the frames then go to the writer one
            # at a time. --frames/--start decode from the key frame before the first one wanted.
            with _open_decoder(src, args, load_model=False) as scan:
                all_durations = [rec.duration for rec in scan.records()]
                chosen = _frame_selection(args, all_durations, scan.header.time_base)
            durations = [all_durations[i] for i in chosen]
        count = 0
        if not args.salvage:
            started = time.perf_counter()
        with (
            _open_decoder(src, args, load_model=not args.salvage) as dec,
            _progress(len(durations), "decode", args.quiet) as bar,
            outputs.stdout_via_file(fmt) if to_stdout else contextlib.nullcontext(out) as target,
        ):
            h = dec.header

            def frames():
                nonlocal count
                if report is not None:
                    source = frame_source
                else:
                    source = (
                        f.planes if planar else f.pixels
                        for f in dec.frames(chosen.start, chosen.stop)
                        if (f.index - chosen.start) % chosen.step == 0
                    )
                for pixels in source:
                    count += 1
                    bar.update()
                    _started()
                    yield pixels

            with _naming(str(target), outputs.display_name(out, "stdout")):
                if planar:
                    warnings = write_planar(dec, fmt, target, frames(), durations, args.force or to_stdout)
                else:
                    warnings = write_frames(
                        target,
                        frames(),
                        durations,
                        h.time_base,
                        h.loop,
                        force=args.force or to_stdout,
                        allow_lossy=args.lossy,
                    )
    elapsed = time.perf_counter() - started
    for w in warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    if report is not None and report.lost:
        print(
            f"{PROG}: warning: {_count(len(report.lost))} of {report.total} lost to damage and not "
            f"written (their time dropped): {_ranges(report.lost)}; {_count(count)} recovered",
            file=sys.stderr,
        )
    if not args.quiet:
        print(
            f"{outputs.display_name(out, 'stdout')}: {_count(count)} {h.width}x{h.height}, "
            f"{count / elapsed:.1f} frames/s decoded and written",
            file=sys.stderr if to_stdout else sys.stdout,
        )
    return EXIT_SALVAGED if report is not None and report.lost else 0


def write_planar(dec, fmt: str, target, planes_seq, durations: list[int], force: bool) -> list[str]:
    """A planar stream's frames to ``target``: .y4m and .mkv (FFV1) in the stream's own pixel
    format, sample for sample; anything else converted to RGB, with a warning saying so."""
    from .io import write_frames
    from .planar_convert import to_rgb
    from .planar_io import write_ffv1_mkv, write_y4m, y4m_holds

    h, pf, colour = dec.header, dec.pixel_format, dec.colour
    warnings: list[str] = []
    if fmt in ("y4m", "mkv"):
        fps, constant = _frame_rate(durations, Fraction(h.time_base))
        if not constant:
            warnings.append(
                f".{fmt} output has a constant frame rate ({fps} fps): the frames' varying "
                "durations are not kept"
            )
        writer = write_y4m if fmt == "y4m" else write_ffv1_mkv
        writer(target, pf, colour, h.width, h.height, fps, planes_seq, force=force)
        return warnings
    if pf.gbr and pf.depth == 16 and fmt in ("png", "apng", "pattern"):  # PNG holds every sample
        from .planar_convert import to_packed_rgb

        packed = to_packed_rgb(planes_seq)
        return warnings + write_frames(target, packed, durations, h.time_base, h.loop, force=force)
    if _png_gray(pf) and fmt in ("png", "apng", "pattern"):  # a gray PNG holds every sample too
        gray = (planes[0] for planes in planes_seq)
        return warnings + write_frames(target, gray, durations, h.time_base, h.loop, force=force)
    rgb_name = "RGBA" if pf.alpha else "RGB"
    warnings.append(
        f"the stream holds {pf.name} samples; .{fmt if fmt != 'pattern' else 'png'} output is their "
        f"conversion to 8-bit {rgb_name} (write .mkv for the exact samples)"
        if not y4m_holds(pf)
        else f"the stream holds {pf.name} samples; .{fmt if fmt != 'pattern' else 'png'} output is their "
        f"conversion to {rgb_name} (write .y4m or .mkv for the exact samples)"
    )
    rgb = to_rgb(planes_seq, pf, colour, h.width, h.height)
    return warnings + write_frames(target, rgb, durations, h.time_base, h.loop, force=force, allow_lossy=True)


def _png_gray(pf) -> bool:
    """Whether a planar stream's frames are gray samples that a gray PNG holds as they are: one
    plane of 8 or 16 bits (a 10-bit plane would be written as 16-bit numbers a viewer shows dark)."""
    return pf.planes == 1 and not pf.rgb and not pf.gbr and pf.depth in (8, 16)


#: Frame rates a rounded time base hides (the durations of 30000/1001 fps in milliseconds are 33
#: and 34): a mean duration within 0.1 % of one of these is that rate.
_STANDARD_RATES = tuple(Fraction(n, 1001) for n in (24000, 30000, 60000)) + tuple(
    Fraction(n) for n in (24, 25, 30, 48, 50, 60, 100, 120)
)


def _frame_rate(durations: list[int], time_base: Fraction) -> tuple[Fraction, bool]:
    """(frames per second, whether the durations are one constant rate up to the time base's
    rounding) for outputs that store a frame rate only (.y4m, .mkv)."""
    ticks = [d for d in durations if d > 0]
    if not ticks:
        return Fraction(25), len(durations) <= 1
    rate = len(ticks) / (sum(ticks) * time_base)
    for standard in _STANDARD_RATES:
        if abs(rate - standard) <= standard / 1000:
            rate = standard
            break
    else:
        rate = rate.limit_denominator(1001)
    return rate, max(ticks) - min(ticks) <= 1 and len(ticks) == len(durations)


def _salvaged(src: str, args: argparse.Namespace):
    """``decode --salvage``: first yields (report, durations of the recovered frames), then the
    recovered frames' pixels (a planar stream's: planes). The frames are decoded up front into a
    temporary file (the writers want the durations first, and memory stays flat) and read back
    one at a time."""
    import tempfile

    import numpy as np

    from . import planar_coding
    from .modes.base import MODE_STORED
    from .salvage import SalvageReport, salvage

    report = SalvageReport()
    durations: list[int] = []
    with (
        tempfile.TemporaryFile(prefix="fpcodec-salvage-") as spill,
        _open_decoder(src, args) as dec,
        open(src, "rb") as raw,
    ):
        h = dec.header
        with _progress(h.frame_count, "salvage", args.quiet) as bar:
            for f in salvage(dec, raw, report):
                spill.write(f.pixels.tobytes() if f.planes is None else planar_coding.planes_bytes(f.planes))
                durations.append(f.duration)
                bar.update()
        if not durations:
            raise FpcodecError(f"no frame could be recovered (frames lost: {_ranges(report.lost)})")
        yield report, durations
        spill.seek(0)
        if dec.pixel_format is not None:  # planes, as a stored planar frame holds them
            geometry = planar_coding.geometry(dec.pixel_format, h.width, h.height)
            size = sum(g.height * g.width * (1 if g.depth == 8 else 2) for g in geometry)
            for _ in durations:
                yield planar_coding.decode_frame(MODE_STORED, spill.read(size), [], geometry)
            return
        size = h.height * h.width * h.channels
        for _ in durations:
            yield np.frombuffer(spill.read(size), np.uint8).reshape(h.height, h.width, h.channels)


def cmd_info(args: argparse.Namespace) -> int:
    from . import outputs

    with outputs.readable_path(args.input) as src, _naming(src, outputs.display_name(args.input)):
        with _open_decoder(src, args, load_model=False) as dec:
            h = dec.header
            entries = list(dec.frame_records())
            pf, colour = dec.pixel_format, dec.colour
        total_bytes = Path(src).stat().st_size
    records = [rec for rec, _, _ in entries]
    pixels = h.width * h.height * len(records)
    durations = [r.duration for r in records]
    seconds = float(sum(durations) * h.time_base)
    loop = "none (play once)" if h.loop is None else ("forever" if h.loop == 0 else str(h.loop))
    from ..models.last_frame import RULE_HASH

    weights = (
        f"weights sha256 {h.weights_hash.hex()}"
        if h.weights_hash != RULE_HASH
        else f"no weights (a fixed rule; sha256 of its constants {RULE_HASH.hex()[:16]}...)"
    )
    tick_ms = Fraction(h.time_base) * 1000
    print(
        f"file:        {outputs.display_name(args.input)} ({total_bytes} bytes), format version {dec.version}"
    )
    layout = "RGBA" if h.has_alpha else "RGB"
    samples = h.channels
    if dec.plane_format is not None and pf is None:
        layout = (
            f"{layout} (coded as planes: green, blue and red less green{', alpha' if h.has_alpha else ''})"
        )
    if pf is not None:
        layout = f"{pf.name} (the source's own samples; {_colour_text(colour)})"
        samples = sum(ph * pw for ph, pw in pf.plane_shapes(h.width, h.height)) / (h.width * h.height)
    print(f"frames:      {len(records)} x {h.width}x{h.height} {layout}")
    print(
        f"timing:      time base {h.time_base} s ({float(tick_ms):g} ms per tick), {seconds:.3f} s total, "
        f"loop {loop}"
    )
    print(f"predictor:   {dec.model_name} (id {h.model_id}), {weights}")
    print(f"coder:       {h.coder}")
    keys = [r.index for r in records if r.key]
    if dec.profile.key_frames:
        print(f"key frames:  {len(keys)} ({_ranges(keys)}), indexed")
    stored = sum(r.mode == 5 for r in records)
    if stored:
        print(f"stored:      {_count(stored)} kept raw (mode 5: no coding mode was smaller)")
    print(
        f"bits/pixel:  {8 * total_bytes / pixels:.3f} "
        f"({8 * total_bytes / (pixels * samples):.3f} per {'sample' if pf else 'subpixel'})"
    )
    if not args.quiet:
        from .frame_coding import MODE_NAMES as modes

        names = [_mode_name(r, modes) for r, _, _ in entries]
        width = max([9, *map(len, names)])  # planar modes' names carry their kind's options
        print(
            f"frame  {'mode':{width}}  duration ms  bytes  palette  bits/pixel"
            + ("  key" if keys else "")
            + "  tools"
        )
        for (r, _, palette_bytes), name in zip(entries, names, strict=True):
            size = len(r.payload) + palette_bytes
            print(
                f"{r.index:5d}  {name:{width}}  {float(r.duration * tick_ms):11g}  "
                f"{len(r.payload):5d}  {palette_bytes:7d}  {8 * size / (h.width * h.height):10.3f}"
                + (("    K" if r.key else "     ") if keys else "")
                + f"  {_tools(r, dec.profile)}".rstrip()
            )
    return 0


def _tools(rec, profile) -> str:
    """The optional coding tools a palette frame uses, for ``info``: ``rows`` (the row schedule,
    version 10), ``copyN`` (blocks of N pixels copied from the previous frame, version 9;
    ``+shift`` when scrolled); for a palette LZ frame ``keep`` (the keep symbol set, version 15)."""
    from .copied_blocks import SHIFTED_BIT, side_of
    from .modes import palette_lz
    from .modes.base import MODE_PALETTE_INTER, MODE_PALETTE_INTRA, MODE_PALETTE_UPDATE
    from .row_schedule import used

    if rec.mode == palette_lz.MODE:
        return "keep" if rec.mix == palette_lz.KEEP else ""
    if rec.mode not in (MODE_PALETTE_INTRA, MODE_PALETTE_INTER, MODE_PALETTE_UPDATE):
        return ""
    tools = ["rows"] if used(rec.mix, profile.row_schedule) else []
    side = side_of(rec.mix) if profile.copied_blocks else 0
    if side:
        tools.append(f"copy{side}" + ("+shift" if rec.mix & SHIFTED_BIT else ""))
    return " ".join(tools)


#: Short names of the kinds of planar frames (mode 6), after "planar/" in ``info``'s table.
_PLANAR_KINDS = {0: "i", 1: "p", 2: "ri", 3: "rp", 4: "jpeg"}
#: A planar inter frame's interpolation rule (``motion.INTERPOLATIONS``) as ``info`` shows it.
_INTERPOLATION_NAMES = ("", "+mpeg12", "+mpeg4", "+mpeg4down")


def _mode_name(rec, modes: dict[int, str]) -> str:
    """A frame's mode for ``info``: its name; a planar frame's with its kind (i intra, p inter,
    ri raster intra, rp raster inter, jpeg its JPEG levels: version 19), coded in substreams (version 14) their count,
    "+rules" where its planes have sample rules (version 17) and "+mb16" where its motion field
    has 16x16 blocks (version 18), "+mpeg12", "+mpeg4" or "+mpeg4down" where its references are
    read by an MPEG interpolation rule (version 20)."""
    from .modes.planar import INTERPOLATION_SHIFT, LARGE_BLOCKS_BIT, kind_word

    name = modes.get(rec.mode, str(rec.mode))
    if name == "planar" and len(rec.payload) >= 4:
        word = int.from_bytes(rec.payload[:4], "little")
        kind, runs, rules = kind_word(word)
        name = f"planar/{_PLANAR_KINDS.get(kind, kind)}" + (f"/{runs}" if runs > 1 else "")
        name += ("+rules" if rules else "") + ("+mb16" if word & LARGE_BLOCKS_BIT else "")
        return name + _INTERPOLATION_NAMES[word >> INTERPOLATION_SHIFT & 3]
    return name


def _colour_text(colour) -> str:
    """A PFMT chunk's colour tags in words (FFmpeg's numbering, ``codec.planar_io.ColourInfo``)."""
    ranges = {0: "range unspecified", 1: "limited range", 2: "full range"}
    sitings = {
        0: "siting unspecified",
        1: "left",
        2: "center",
        3: "top-left",
        4: "top",
        5: "bottom-left",
        6: "bottom",
    }
    return (
        f"{ranges[colour.color_range]}, matrix {colour.colorspace}, primaries {colour.color_primaries}, "
        f"transfer {colour.color_trc}, chroma {sitings[colour.chroma_location]}"
    )


#: One line per predictor for ``encode -h`` (the ``-int`` variants are described from their float model).
_MODEL_HELP = {
    "last-frame": "the previous frame, scales from local motion; no torch, fastest",
    "conv2d": "one Conv2D over the five stacked history frames",
    "conv3d-hybrid": "last frame + a Conv3D correction over the history",
    "convlstm-hybrid": "last frame + a ConvLSTM correction (half resolution)",
    "convlstm-unet": "a ConvLSTM encoder-decoder at 1/2 and 1/4 resolution",
    "convlstm-hybrid-pal-int": "convlstm-hybrid-int's network trained on what palette frames cost "
    "(nearly every GIF frame); convlstm-hybrid-int codes RGB frames about 1 % smaller",
}


def _model_list(names: list[str], default: str) -> str:
    """The predictors, one a line, default first (the epilog of ``encode -h``)."""
    width = max(len(n) for n in names)
    lines = ["predictors (-m/--model):"]
    for name in sorted(names, key=lambda n: n != default):
        base = name.removesuffix("-int")
        text = _MODEL_HELP.get(base, "")
        if name != base:
            text = f"{base} in integer arithmetic: decodes identically on any machine"
        text = _MODEL_HELP.get(name, text)
        lines.append(f"  {name:{width}}  {'(default) ' if name == default else ''}{text}")
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from ..bitstream.container import VERSION

    try:
        own = version("fpcodec")
    except PackageNotFoundError:  # run from a source tree without installing
        own = "(not installed)"
    return f"{PROG} {own} (writes stream format version {VERSION})"


class _VersionAction(argparse.Action):
    """``--version``: prints ``_version()`` and exits, the string made only when asked for
    (reading the installed package's metadata took 17 ms of every command's start-up)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from ..models import registry

    parser = _Parser(
        prog=PROG,
        description="Lossless learned video codec.",
        epilog="Errors are one line, 'fpcodec: error: ...': exit status 2 for a wrong "
        "command line, 1 for everything else. '-' is stdin or stdout.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version and the stream format version it writes",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
        p.add_argument(
            "--max-pixels",
            type=int,
            default=None,
            help="largest frame (width*height) accepted; default 178956970, with a warning "
            "above 89478485 (Pillow's limits)",
        )

    p = sub.add_parser(
        "encode",
        help="encode a GIF or video to an .fpc stream",
        description="Encode a GIF or video (anything FFmpeg reads) to an fpcodec stream.",
        epilog=_model_list(registry.available(), registry.DEFAULT_MODEL),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="GIF or video file, or - for stdin")
    p.add_argument(
        "-o",
        "--output",
        help="output stream, or - for stdout (default: INPUT with its extension replaced by .fpc)",
    )
    p.add_argument(
        "-m",
        "--model",
        default=None,
        choices=registry.available(),
        metavar="MODEL",
        help=f"predictor (default: {registry.DEFAULT_MODEL}; all listed below); YUV and gray video "
        "is coded in its own pixel format by the planar rule instead (see --rgb), and so is, "
        "unless -m is given, an RGB(A) source (not a GIF) with more than 256 colours in one of its "
        "first 10 frames, as planes green, blue - green, red - green (and alpha)",
    )
    p.add_argument(
        "--rgb",
        action="store_true",
        help="code a YUV or gray video as RGB (a conversion: not its own samples) with the "
        "predictor of -m, as format version 6 did, and an RGB source of many colours by the RGB "
        "modes rather than as planes; default: YUV and gray are coded natively",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="weights file for the model instead of the shipped one (e.g. from fpcodec train); "
        "decoding the stream then needs the same file",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu or cuda (learned predictors; auto runs the -int models on the CPU, without torch)",
    )
    p.add_argument(
        "--no-palette",
        action="store_true",
        help="code every frame in RGB, never as palette indices (for comparisons)",
    )
    p.add_argument(
        "--no-lz",
        action="store_true",
        help="never code a palette frame's indices with LZMA (mode 8; for comparisons)",
    )
    p.add_argument(
        "--keyint",
        type=int,
        default=None,
        metavar="N",
        help="a key frame (decodable on its own: seeking, salvage) every N frames; 0: only "
        "frame 0; default: due every 250 frames or 10 s of video, started once the frames "
        "since the last one cost 100 times it (at most ~1 %%), and after 2500 frames regardless",
    )
    p.add_argument(
        "-y",
        "--force",
        action="store_true",
        help="overwrite the output; also allows a stream name with an image extension",
    )
    common(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser(
        "decode",
        help="decode an .fpc stream to frames",
        description="Decode an fpcodec stream to an image or video file, pixel for pixel.",
    )
    p.add_argument("input", help=".fpc stream, or - for stdin")
    p.add_argument(
        "-o",
        "--output",
        help="OUT.gif, .apng, .png (APNG), .webp, .mkv (FFV1), .y4m, .mp4, a frames_%%04d.png pattern, or - "
        "for stdout (with --format); default: INPUT with its extension replaced by .apng",
    )
    p.add_argument(
        "--format",
        choices=("gif", "apng", "png", "webp", "y4m", "mp4", "mkv"),
        default=None,
        help="output format; needed with -o -, otherwise it must agree with the extension",
    )
    p.add_argument(
        "--weights", metavar="FILE", help="the weights file the stream was encoded with (encode --weights)"
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto, cpu or cuda (learned predictors; auto runs the -int models on the CPU, without torch)",
    )
    p.add_argument("-y", "--force", action="store_true", help="overwrite the output")
    p.add_argument(
        "--lossy",
        action="store_true",
        help="allow targets that cannot hold the frames exactly (GIF > 256 colours, MP4, Y4M)",
    )
    p.add_argument(
        "--frames",
        metavar="A:B",
        help="only frames A to B-1 (Python slice semantics: 10:20, ::2, --frames=-5: for the last "
        "five), decoded from the key frame before A",
    )
    p.add_argument(
        "--start",
        metavar="T",
        help="start at the frame showing at T seconds, decoded from the key frame before it",
    )
    p.add_argument(
        "--salvage",
        action="store_true",
        help="on a damaged stream, skip to the next key frame, write what was recovered, "
        "list the lost frames (their time is dropped) and exit with status 3",
    )
    common(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser(
        "info",
        help="describe an .fpc stream",
        description="Size, timing, predictor and per-frame bits of an fpcodec stream.",
    )
    p.add_argument("input", help=".fpc stream, or - for stdin")
    common(p)
    p.set_defaults(func=cmd_info)

    for name, (help_text, module) in _LAZY.items():
        _lazy_subcommand(sub, name, help_text, module)
    return parser


#: Subcommands whose modules (and their torch import) load only when the command runs. Each module
#: provides ``add_arguments(parser)`` and ``run(args) -> int``.
_LAZY = {
    "train": ("train a predictor's weights", "fpcodec.models.training.train"),
    "bench": ("benchmark fpcodec against other codecs", "fpcodec.bench.cli"),
    "batch": ("encode, decode or verify many files on a Ray cluster", "fpcodec.codec.batch.cli"),
}


def _lazy_subcommand(sub, name: str, help_text: str, module: str) -> None:
    """List ``name`` in the top-level help; ``main`` dispatches it before parsing."""
    sub.add_parser(name, help=help_text, add_help=False)


def _run_lazy(name: str, argv: list[str]) -> int:
    import importlib

    help_text, module = _LAZY[name]
    mod = importlib.import_module(module)
    parser = _Parser(prog=f"{PROG} {name}", description=help_text)
    mod.add_arguments(parser)
    return mod.run(_parse(parser, argv))


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parse_args``, with ``-h``/``--version`` (argparse's SystemExit) as a _Done carrying the code."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        raise _Done(exc.code if isinstance(exc.code, int) else 0) from None


class _Done(Exception):
    """Help or version printed: return this exit status."""

    def __init__(self, code: int) -> None:
        self.code = code


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


def _compiling_note() -> None:
    from tqdm import tqdm  # above the progress bar that is showing

    tqdm.write(
        f"{PROG}: compiling its kernels for this machine (the first run only: about half a minute)",
        file=sys.stderr,
    )


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] in _LAZY:
            return _run_lazy(argv[0], argv[1:])
        args = _parse(build_parser(), argv)
        if not getattr(args, "quiet", True) and sys.stderr.isatty():  # as the progress bars
            compile_note.set_note(_compiling_note)
        try:
            return args.func(args)
        finally:  # this command's note only: none for what the process does after it
            compile_note.set_note(None)
    except _Done as done:
        return done.code
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except FpcodecError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError, ImportError) as exc:  # too small a machine for the frames
        if not out_of_memory(exc):
            raise
        print(f"{PROG}: error: {_OUT_OF_MEMORY}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `fpcodec info x.fpc | head`: the reader has all it wanted
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a process the pipe killed
    except OSError as exc:
        if out_of_memory(exc):
            print(f"{PROG}: error: {_OUT_OF_MEMORY}", file=sys.stderr)
            return 1
        print(f"{PROG}: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


#: The commands whose start-up ``console`` runs without garbage collection, until ``_started``.
_START_UP_COMMANDS = ("encode", "decode")
_collection_deferred = False


def _started() -> None:
    """A frame is through, so start-up is over: imports, numba's kernels and the model have made
    some 160,000 objects that live as long as the process, and every full collection traversed
    them all (a 96x96 decode of 30 frames spent 54 ms collecting, 35 of it in two full
    collections, for nothing: start-up makes next to no cyclic garbage). After ``console``
    deferred collection, they are frozen out of later collections (``gc.freeze``), which are
    turned back on for what the frames make; otherwise nothing is done."""
    global _collection_deferred
    if _collection_deferred:
        _collection_deferred = False
        gc.freeze()
        gc.enable()


def console() -> NoReturn:
    """The ``fpcodec`` command as a process (the console script and ``python -m``): ``main``, then
    exit without the interpreter's last garbage collections. Everything the command made is still
    referenced by the modules then (numba's and llvmlite's type caches among them), and collecting
    it took 0.15 s of ``import numba`` alone and 0.2-0.4 s after decoding a 96x96 clip, a sixth of
    the process; output files are closed and flushed before ``main`` returns, and exit handlers
    still run. ``encode`` and ``decode`` start up without collection (``_started``)."""
    global _collection_deferred
    if sys.argv[1:2] and sys.argv[1] in _START_UP_COMMANDS and gc.isenabled():
        gc.disable()
        _collection_deferred = True
    code = main()
    gc.freeze()  # what is left is not collected again: the process ends here
    sys.exit(code)


if __name__ == "__main__":
    console()
