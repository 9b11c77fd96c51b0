"""What a batch worker does to one file: code it, check the result against its source, report.

Plain Python with no engine in it: the Ray driver wraps ``Worker`` in an actor (one per worker
process, so a learned model is loaded once and reused for every file), the benchmark runs the same
class in one process, and the tests call it directly too. Every method returns a manifest record
and never raises for a bad file: the error goes into the record and the batch goes on.

A source is coded as ``fpcodec encode`` codes it (``planar_io.native_reader`` decides): a YUV or
gray video as a planar stream of its own samples, anything else (GIF, RGB, palette) as RGB(A)
frames. Checking compares SHA-256 digests of every frame (32 bytes a frame, so memory stays flat
however long the video): the frames read from the source against the frames decoded from the
stream, and for decoding, the stream's frames against what the written file reads back as. A
planar stream's frames are its planes in their own format, so they are compared with the source's
planes (never with an RGB conversion), and decoded only to outputs that hold them (.mkv, .y4m).
"""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from ...bitstream.errors import ConvertedSourceWarning, FpcodecError, InputError
from ...models.registry import DEFAULT_MODEL
from .discovery import Job

if TYPE_CHECKING:
    from ..planar_io import ColourInfo, PixelFormat

#: Outputs ``batch decode`` can write and read back exactly from an RGB stream (``codec.io``'s writers).
DECODE_FORMATS = (".apng", ".gif", ".webp", ".mkv")
#: ... and from a planar stream, in its own pixel format (``codec.planar_io``'s writers); the first
#: (FFV1, compressed, with the colour tags) is the default.
PLANAR_DECODE_FORMATS = (".mkv", ".y4m")


class VerificationError(FpcodecError):
    """A coded file does not give back its source exactly."""


@dataclass(frozen=True)
class Options:
    """Settings every file of a batch shares (sent to each worker once)."""

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    force: bool = False
    verify: bool = True
    max_pixels: int | None = None
    max_bytes: int = 1 << 30
    threads: int | None = 1
    to: str | None = None  # decode: output format (.apng, .gif, .webp, .mkv, .y4m); None keeps the source's
    rgb: bool = False  # encode: YUV and gray videos as RGB frames too (by default: their own samples)


@dataclass(frozen=True)
class Digests:
    """A video as checking compares it: one SHA-256 a frame, the durations, and what a stream of it
    records. ``pixel_format`` None: RGB(A) frames; else planes in that format, with ``colour``."""

    frames: list[bytes]
    durations: list[int]
    width: int
    height: int
    channels: int
    time_base: Fraction
    loop: int | None
    pixel_format: PixelFormat | None = None
    colour: ColourInfo | None = None

    @property
    def kind(self) -> str:
        """How the frames are held, for messages: ``RGB`` or the pixel format's name."""
        return "RGB" if self.pixel_format is None else self.pixel_format.name


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _digest(frame: np.ndarray | list[np.ndarray]) -> bytes:
    """An RGB(A) frame's digest, or a planar frame's: each plane's sample size, shape and samples
    (little-endian), so the same bytes as 8- or 16-bit samples, or split otherwise, differ."""
    if isinstance(frame, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(frame).data).digest()
    h = hashlib.sha256()
    for plane in frame:
        h.update(f"{plane.dtype.kind}{plane.dtype.itemsize}{plane.shape}".encode("ascii"))
        h.update(np.ascontiguousarray(plane, dtype=plane.dtype.newbyteorder("<")).data)
    return h.digest()


def _collapse(digests: list[bytes]) -> list[bytes]:
    """Runs of equal frames as one (the GIF and WebP writers merge repeated frames)."""
    return [d for i, d in enumerate(digests) if i == 0 or d != digests[i - 1]]


def _compare(what: str, expected: list[bytes], got: list[bytes]) -> None:
    if len(expected) != len(got):
        raise VerificationError(f"{what}: {len(got)} frames, expected {len(expected)}")
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a != b:
            raise VerificationError(f"{what}: frame {i} differs")


def _compare_output(stream: Digests, output: Digests) -> None:
    """A decoded file against its stream; the GIF and WebP writers merge repeated RGB frames."""
    if stream.pixel_format is None:
        _compare("output", _collapse(stream.frames), _collapse(output.frames))
    else:
        _compare("output", stream.frames, output.frames)


def decode_output_name(rel: str, to: str | None, planar: bool = False) -> str:
    """``a/b.gif.fpc`` -> ``a/b.gif``; a stream whose inner name is no format that holds it exactly
    gets .apng, or for a ``planar`` stream .mkv (FFV1): ``a/b.mp4.fpc`` -> ``a/b.mp4.mkv``."""
    stem = rel[: -len(".fpc")] if rel.lower().endswith(".fpc") else rel
    inner = os.path.splitext(stem)[1].lower()
    if to is None and planar:
        return stem if inner in PLANAR_DECODE_FORMATS else stem + PLANAR_DECODE_FORMATS[0]
    if to is None:
        return stem if inner in DECODE_FORMATS else stem + ".apng"
    return stem if inner == to else stem + to


def decode_output_for(job: Job, to: str | None) -> str:
    """``decode_output_name`` of the stream ``job.source``, whose header is read only when the name
    depends on it (no ``to``, and not a GIF's stream: GIFs are always coded as RGB frames)."""
    stem = job.rel[: -len(".fpc")] if job.rel.lower().endswith(".fpc") else job.rel
    planar = to is None and not stem.lower().endswith(".gif") and is_planar_stream(job.source)
    return decode_output_name(job.rel, to, planar)


def is_planar_stream(path: str | os.PathLike) -> bool:
    """Whether the stream at ``path`` holds planes (its header says so). A file that is no readable
    stream counts as not: decoding it then reports what is wrong with it."""
    from ..pipeline import Decoder

    try:
        with open(path, "rb") as fh:
            return Decoder(fh, load_model=False).pixel_format is not None
    except (FpcodecError, OSError):
        return False


class Worker:
    """Codes files one at a time; keeps each predictor it has loaded."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._predictors: dict[str, Any] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        if options.threads:
            # The palette kernel's numba threads would otherwise take every core in each worker.
            import numba

            numba.set_num_threads(min(options.threads, numba.config.NUMBA_NUM_THREADS))

    # ----------------------------------------------------------------------------------- helpers
    def predictor(self, name: str):
        """The predictor ``name``, loaded once per worker."""
        if name not in self._predictors:
            from ..pipeline import _get_model

            self._predictors[name] = _get_model(name, self.options.device)
            torch = sys.modules.get("torch")
            if torch is not None and self.options.threads:
                torch.set_num_threads(self.options.threads)
        return self._predictors[name]

    def _decoder(self, fh):
        """A Decoder for ``fh`` that uses this worker's loaded predictor (same weights checked)."""
        from ..pipeline import Decoder

        return Decoder(fh, max_pixels=self.options.max_pixels, predictor=self.predictor)

    def stream_frames(
        self, path: str | os.PathLike, sink: Callable[[Any], None] | None = None
    ) -> tuple[Digests, Any, int]:
        """(digests, header, format version) of a stream, decoding it frame by frame; ``sink`` gets
        each frame's pixels, or a planar stream's planes."""
        digests, durations = [], []
        with open(path, "rb") as fh:
            dec = self._decoder(fh)
            for f in dec:
                frame = f.pixels if f.planes is None else f.planes
                digests.append(_digest(frame))
                durations.append(f.duration)
                if sink is not None:
                    sink(frame)
        h = dec.header
        got = Digests(
            digests,
            durations,
            h.width,
            h.height,
            h.channels,
            h.time_base,
            h.loop,
            dec.pixel_format,
            dec.colour,
        )
        return got, h, dec.version

    def _reader(self, path: str | os.PathLike, planar: bool | None = None):
        """The reader a file is coded or checked from: its planes (``NativeReader``) or its RGB(A)
        frames (``VideoReader``). ``planar`` None decides as ``fpcodec encode`` does (with ``rgb``:
        always RGB); True or False reads the file as a stream of that kind holds it."""
        from ..io import VideoReader
        from ..planar_io import NativeReader, native_reader

        size = os.stat(path).st_size
        if size > self.options.max_bytes:
            raise InputError(
                f"{path} is {size} bytes, more than the limit of {self.options.max_bytes} (--max-bytes)"
            )
        max_pixels = self.options.max_pixels
        if planar is None and not self.options.rgb:
            native = native_reader(path, max_pixels=max_pixels)
            if native is not None:
                return native
        elif planar:
            return NativeReader(path, max_pixels=max_pixels)  # its frames() refuses a non-native format
        return VideoReader(path, max_pixels=max_pixels)

    def video_digests(self, path: str | os.PathLike, planar: bool | None = None) -> Digests:
        """A source's (or a written file's) frames as checking compares them; ``planar``: see ``_reader``."""
        reader = self._reader(path, planar)
        digests, durations = [], []
        for frame, duration in reader.frames():
            digests.append(_digest(frame))
            durations.append(duration)
        return _digests(reader, digests, durations)

    # ------------------------------------------------------------------------------------ encode
    def _check_stream(self, stream: str | os.PathLike, source: Digests) -> tuple[Any, int]:
        """Decode ``stream`` and compare it with the source's frames; (header, format version)."""
        got, header, version = self.stream_frames(stream)
        if got.pixel_format != source.pixel_format:
            raise VerificationError(f"stream: {got.kind} frames, the source's are {source.kind}")
        _compare("stream", source.frames, got.frames)
        if got.durations != source.durations or got.loop != source.loop or got.time_base != source.time_base:
            raise VerificationError("stream: timing or loop count differs from the source")
        if got.colour != source.colour:
            raise VerificationError("stream: colour tags differ from the source")
        return header, version

    def _encoder(self, fh, reader) -> tuple[Any, Callable[[Any, int], Any]]:
        """An Encoder for what ``reader`` gives, and its method that takes a frame: a planar stream
        of the source's own samples (the planar rule), or RGB(A) frames (``model``'s predictor)."""
        from ..pipeline import Encoder
        from ..planar_io import planar_encoder, rgb_as_planes, rgb_planes_encoder

        opts = self.options
        if getattr(reader, "pixel_format", None) is not None:
            enc = planar_encoder(fh, reader, max_pixels=opts.max_pixels)
            return enc, enc.write_planes
        info = reader.info
        if not opts.rgb and rgb_as_planes(reader):  # as fpcodec encode decides
            enc = rgb_planes_encoder(fh, reader, max_pixels=opts.max_pixels)
            return enc, enc.write
        enc = Encoder(
            fh,
            width=info.width,
            height=info.height,
            channels=info.channels,
            model=self.predictor(opts.model),
            time_base=info.time_base,
            loop=info.loop,
            frame_count=info.frame_count,
            max_pixels=opts.max_pixels,
        )
        return enc, enc.write

    def _encode(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        from ..io import atomic_output
        from ..pipeline import Decoder

        opts = self.options
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:  # an actor codes one file at a time
            warnings.simplefilter("always", ConvertedSourceWarning)
            reader = self._reader(job.source)
        notes = [str(w.message) for w in caught if issubclass(w.category, ConvertedSourceWarning)]
        if notes:  # the stream holds the source's RGB conversion, as fpcodec encode warns
            rec["warnings"] = notes
        digests, durations = [], []
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(out, force=True) as tmp:
            with open(tmp, "wb") as fh:
                enc, write = self._encoder(fh, reader)
                for frame, duration in reader.frames():
                    write(frame, duration)
                    digests.append(_digest(frame))
                    durations.append(duration)
                enc.close()
            source = _digests(reader, digests, durations)
            rec["seconds"]["code"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if opts.verify:
                rec["format_version"] = self._check_stream(tmp, source)[1]
                rec["seconds"]["verify"] = time.perf_counter() - t1
            else:
                with open(tmp, "rb") as fh:
                    rec["format_version"] = Decoder(fh, load_model=False).version
            rec["verified"] = opts.verify
            rec["stream_sha256"] = sha256_file(tmp)
        _stream_fields(rec, source, out, enc.predictor.name)

    def _adopt_stream(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        """A stream already at ``out`` that the manifest does not vouch for: keep it if exact, as the
        stream holds the source (a planar stream its planes, an RGB one its RGB frames)."""
        t1 = time.perf_counter()
        source = self.video_digests(job.source, planar=is_planar_stream(out))
        try:
            header, rec["format_version"] = self._check_stream(out, source)
        except FpcodecError as exc:
            raise FpcodecError(
                f"{out} exists and does not decode to this source ({exc}); use -y/--force to overwrite it"
            ) from None
        rec["seconds"]["verify"] = time.perf_counter() - t1
        _stream_fields(rec, source, out, _model_name(header))
        rec.update(verified=True, stream_sha256=sha256_file(out), adopted=True)

    def encode(self, job: Job, out_dir: str, expected_sha: str | None = None) -> dict[str, Any]:
        """Encode ``job`` to ``out_dir/job.rel``; ``expected_sha``: the manifest's hash of its source."""
        return self._run("encode", job, out_dir, expected_sha, self._encode, self._adopt_stream)

    # ------------------------------------------------------------------------------------ decode
    def _decode(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        from ..cli import write_planar
        from ..io import write_frames
        from ..pipeline import Decoder

        opts = self.options
        t0 = time.perf_counter()
        with open(job.source, "rb") as fh:
            scan = Decoder(fh, max_pixels=opts.max_pixels, load_model=False)
            durations = [r.duration for r in scan.records()]
        _check_output_kind(job.source, scan.pixel_format, out.suffix.lower())
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
        os.close(fd)
        try:
            digests: list[bytes] = []
            with open(job.source, "rb") as fh:
                dec = self._decoder(fh)
                h = dec.header

                def frames() -> Iterator[np.ndarray | list[np.ndarray]]:
                    for f in dec:
                        frame = f.pixels if f.planes is None else f.planes
                        digests.append(_digest(frame))
                        yield frame

                # No lossy targets: a batch only writes outputs that hold the frames exactly.
                if dec.pixel_format is None:
                    warnings = write_frames(tmp, frames(), durations, h.time_base, h.loop, force=True)
                else:
                    warnings = write_planar(dec, out.suffix.lower()[1:], tmp, frames(), durations, True)
                version = dec.version
            stream = Digests(
                digests, durations, h.width, h.height, h.channels, h.time_base, h.loop, dec.pixel_format
            )
            rec["seconds"]["code"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if opts.verify:
                _compare_output(stream, self.video_digests(tmp, planar=stream.pixel_format is not None))
                rec["seconds"]["verify"] = time.perf_counter() - t1
            rec["verified"] = opts.verify
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        pixels = h.width * h.height * len(digests)
        rec.update(
            frames=len(digests),
            width=h.width,
            height=h.height,
            channels=h.channels,
            model=_model_name(h),
            format_version=version,
            output_size=out.stat().st_size,
            bits_per_pixel=8 * rec["source_size"] / pixels,
            warnings=list(warnings),
        )
        if stream.pixel_format is not None:
            rec["pixel_format"] = stream.pixel_format.name

    def _adopt_output(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        from ..pipeline import Decoder

        t1 = time.perf_counter()
        with open(job.source, "rb") as fh:
            _check_output_kind(job.source, Decoder(fh, load_model=False).pixel_format, out.suffix.lower())
        try:
            stream, header, version = self.stream_frames(job.source)
            _compare_output(stream, self.video_digests(out, planar=stream.pixel_format is not None))
        except FpcodecError as exc:
            raise FpcodecError(
                f"{out} exists and is not this stream's frames ({exc}); use -y/--force to overwrite it"
            ) from None
        rec["seconds"]["verify"] = time.perf_counter() - t1
        rec.update(
            frames=len(stream.frames),
            width=header.width,
            height=header.height,
            format_version=version,
            output_size=out.stat().st_size,
            verified=True,
            adopted=True,
        )
        if stream.pixel_format is not None:
            rec["pixel_format"] = stream.pixel_format.name

    def decode(self, job: Job, out_dir: str, expected_sha: str | None = None) -> dict[str, Any]:
        """Decode the stream ``job.source`` to ``out_dir/job.rel``."""
        return self._run("decode", job, out_dir, expected_sha, self._decode, self._adopt_output)

    # ------------------------------------------------------------------------------------ verify
    def verify(self, record: dict[str, Any], out_dir: str) -> dict[str, Any]:
        """Check a manifest record's output against its source again (``fpcodec batch verify``)."""
        started, cpu = time.perf_counter(), time.process_time()
        op = record.get("op", "encode")
        out = Path(out_dir) / record["output"]
        res = {
            "op": "verify",
            "of": op,
            "source": record["source"],
            "output": record["output"],
            "worker": self.name,
        }
        try:
            if not out.is_file():
                raise VerificationError(f"{out} is missing")
            if record.get("output_sha256") and sha256_file(out) != record["output_sha256"]:
                raise VerificationError(f"{out} changed since it was written (SHA-256 differs)")
            if record.get("stream_sha256") and op == "encode" and sha256_file(out) != record["stream_sha256"]:
                raise VerificationError(f"{out} changed since it was written (SHA-256 differs)")
            if sha256_file(record["source"]) != record["source_sha256"]:
                raise VerificationError(f"{record['source']} changed since it was coded (SHA-256 differs)")
            if op == "encode":
                self._check_stream(out, self.video_digests(record["source"], planar=is_planar_stream(out)))
            else:
                stream, _, _ = self.stream_frames(record["source"])
                _compare_output(stream, self.video_digests(out, planar=stream.pixel_format is not None))
            res["status"] = "ok"
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the batch
            res.update(status="error", error=_message(exc))
        res["seconds"] = {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}
        return res

    # -------------------------------------------------------------------------------------- common
    def _run(
        self, op: str, job: Job, out_dir: str, expected_sha: str | None, produce: Callable, adopt: Callable
    ) -> dict[str, Any]:
        started, cpu = time.perf_counter(), time.process_time()
        out = Path(out_dir) / job.rel
        rec: dict[str, Any] = {
            "op": op,
            "source": job.source,
            "output": job.rel,
            "worker": self.name,
            "seconds": {},
        }
        try:
            rec["source_size"] = os.stat(job.source).st_size
            t0 = time.perf_counter()
            rec["source_sha256"] = sha256_file(job.source)
            rec["seconds"]["hash"] = time.perf_counter() - t0
            if out.exists() and not self.options.force:
                if expected_sha is not None and expected_sha == rec["source_sha256"]:
                    rec["status"] = "skipped"
                    return rec
                adopt(job, out, rec)
            else:
                _remove_stale_temps(out)
                produce(job, out, rec)
            if op == "decode":
                rec["output_sha256"] = sha256_file(out)
            rec["status"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a bad file must never stop the batch
            rec.update(status="error", error=_message(exc))
        finally:
            rec["seconds"]["total"] = time.perf_counter() - started
            rec["seconds"]["cpu"] = time.process_time() - cpu  # this process's CPU time on the file
            rec["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return rec


def _digests(reader, digests: list[bytes], durations: list[int]) -> Digests:
    """``Digests`` of the frames ``reader`` gave: a NativeReader's planes or a VideoReader's pixels."""
    fmt = getattr(reader, "pixel_format", None)
    if fmt is not None:
        return Digests(
            digests,
            durations,
            reader.width,
            reader.height,
            fmt.planes,
            reader.time_base,
            None,
            fmt,
            reader.colour,
        )
    info = reader.info
    return Digests(digests, durations, info.width, info.height, info.channels, info.time_base, info.loop)


def _stream_fields(rec: dict[str, Any], source: Digests, out: Path, model: str) -> None:
    """An encode record's description of the source and its stream at ``out``."""
    pixels = source.width * source.height * len(source.frames)
    size = out.stat().st_size
    rec.update(
        frames=len(source.frames),
        width=source.width,
        height=source.height,
        channels=source.channels,
        model=model,
        stream_size=size,
        bits_per_pixel=8 * size / pixels,
        source_bits_per_pixel=8 * rec["source_size"] / pixels,
    )
    if source.pixel_format is not None:
        rec["pixel_format"] = source.pixel_format.name


def _check_output_kind(stream: str, fmt: PixelFormat | None, ext: str) -> None:
    """Refuse, before decoding, an output that cannot hold the stream's frames exactly."""
    if fmt is not None and ext not in PLANAR_DECODE_FORMATS:
        raise FpcodecError(
            f"{stream} holds {fmt.name} samples, which {ext!r} cannot hold exactly: "
            "decode it to .mkv (FFV1) or .y4m (--to mkv, --to y4m)"
        )
    if fmt is not None and ext == ".y4m":
        from ..planar_io import y4m_holds

        if not y4m_holds(fmt):
            raise FpcodecError(
                f"{stream} holds {fmt.name} samples, for which Y4M has no tag that FFmpeg reads: "
                "decode it to .mkv (FFV1, --to mkv)"
            )
    if fmt is None and ext not in DECODE_FORMATS:
        raise FpcodecError(
            f"{stream} holds RGB frames, which {ext!r} cannot hold exactly (.y4m is for streams of "
            "a video's own pixel format): decode it to .apng, .gif, .webp or .mkv"
        )


def _remove_stale_temps(out: Path) -> None:
    """Temp files of this output left by a worker that was killed while writing it."""
    if out.parent.is_dir():
        for tmp in out.parent.glob(f".{glob.escape(out.name)}.*{glob.escape(out.suffix)}"):
            tmp.unlink(missing_ok=True)


def _model_name(header) -> str:
    from ...models import registry

    return registry.name_for_id(header.model_id) or f"id {header.model_id}"


def _message(exc: BaseException) -> str:
    if isinstance(exc, FpcodecError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def run_local(
    worker: Worker, op: str, items: Iterable[tuple[Any, str | None]], out_dir: str
) -> Iterator[dict]:
    """The same work in this process, one file after the other (the benchmark's plain baseline)."""
    for item, expected in items:
        if op == "verify":
            yield worker.verify(item, out_dir)
        else:
            yield getattr(worker, op)(item, out_dir, expected)
