"""What a batch worker does to one file: code it, check the result against its source, report.

Plain Python with no engine in it: the Ray driver wraps ``Worker`` in an actor (one per worker
process, so a learned model is loaded once and reused for every file), the benchmark runs the same
class in one process, and the tests call it directly too. Every method returns a manifest record
and never raises for a bad file: the error goes into the record and the batch goes on.

Checking compares SHA-256 digests of every frame (32 bytes a frame, so memory stays flat however
long the video): the frames read from the source against the frames decoded from the stream, and
for decoding, the stream's frames against what the written file reads back as.
"""

from __future__ import annotations

import glob
import hashlib
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ...bitstream.errors import FpcodecError, InputError
from .discovery import Job

#: Outputs ``batch decode`` can write and read back exactly (the writers of ``codec.io``).
DECODE_FORMATS = (".apng", ".gif", ".webp")


class VerificationError(FpcodecError):
    """A coded file does not give back its source exactly."""


@dataclass(frozen=True)
class Options:
    """Settings every file of a batch shares (sent to each worker once)."""

    model: str = "convlstm-hybrid-int"
    device: str = "cpu"
    force: bool = False
    verify: bool = True
    max_pixels: int | None = None
    max_bytes: int = 1 << 30
    threads: int | None = 1
    to: str | None = None  # decode: output format (.apng, .gif, .webp); None keeps the source's


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _digest(frame: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(frame).data).digest()


def _collapse(digests: list[bytes]) -> list[bytes]:
    """Runs of equal frames as one (the GIF and WebP writers merge repeated frames)."""
    return [d for i, d in enumerate(digests) if i == 0 or d != digests[i - 1]]


def _compare(what: str, expected: list[bytes], got: list[bytes]) -> None:
    if len(expected) != len(got):
        raise VerificationError(f"{what}: {len(got)} frames, expected {len(expected)}")
    for i, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a != b:
            raise VerificationError(f"{what}: frame {i} differs")


def decode_output_name(rel: str, to: str | None) -> str:
    """``a/b.gif.fpc`` -> ``a/b.gif``; a stream whose inner name is no decodable format gets .apng."""
    stem = rel[: -len(".fpc")] if rel.lower().endswith(".fpc") else rel
    inner = os.path.splitext(stem)[1].lower()
    if to is None:
        return stem if inner in DECODE_FORMATS else stem + ".apng"
    return stem if inner == to else stem + to


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

    def stream_frames(self, path: str | os.PathLike, sink: Callable[[Any], None] | None = None):
        """(digests, durations, header, format version) of a stream, decoding it frame by frame."""
        digests, durations = [], []
        with open(path, "rb") as fh:
            dec = self._decoder(fh)
            for f in dec:
                digests.append(_digest(f.pixels))
                durations.append(f.duration)
                if sink is not None:
                    sink(f.pixels)
            return digests, durations, dec.header, dec.version

    def _reader(self, path: str | os.PathLike):
        from ..io import VideoReader

        size = os.stat(path).st_size
        if size > self.options.max_bytes:
            raise InputError(
                f"{path} is {size} bytes, more than the limit of {self.options.max_bytes} (--max-bytes)"
            )
        return VideoReader(path, max_pixels=self.options.max_pixels)

    def video_digests(self, path: str | os.PathLike) -> tuple[list[bytes], list[int], Any]:
        reader = self._reader(path)
        digests, durations = [], []
        for frame, duration in reader.frames():
            digests.append(_digest(frame))
            durations.append(duration)
        return digests, durations, reader.info

    # ------------------------------------------------------------------------------------ encode
    def _check_stream(self, stream: str | os.PathLike, src_digests, src_durations, info) -> tuple[Any, int]:
        """Decode ``stream`` and compare it with the source's frames; (header, format version)."""
        digests, durations, header, version = self.stream_frames(stream)
        _compare("stream", src_digests, digests)
        if durations != src_durations or header.loop != info.loop or header.time_base != info.time_base:
            raise VerificationError("stream: timing or loop count differs from the source")
        return header, version

    def _encode(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        from ..io import atomic_output
        from ..pipeline import Decoder, Encoder

        opts = self.options
        t0 = time.perf_counter()
        reader = self._reader(job.source)
        info = reader.info
        digests, durations = [], []
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(out, force=True) as tmp:
            with open(tmp, "wb") as fh:
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
                for frame, duration in reader.frames():
                    enc.write(frame, duration)
                    digests.append(_digest(frame))
                    durations.append(duration)
                enc.close()
            rec["seconds"]["code"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if opts.verify:
                rec["format_version"] = self._check_stream(tmp, digests, durations, info)[1]
                rec["seconds"]["verify"] = time.perf_counter() - t1
            else:
                with open(tmp, "rb") as fh:
                    rec["format_version"] = Decoder(fh, load_model=False).version
            rec["verified"] = opts.verify
            rec["stream_sha256"] = sha256_file(tmp)
        pixels = info.width * info.height * len(digests)
        size = out.stat().st_size
        rec.update(
            frames=len(digests),
            width=info.width,
            height=info.height,
            channels=info.channels,
            model=opts.model,
            stream_size=size,
            bits_per_pixel=8 * size / pixels,
            source_bits_per_pixel=8 * rec["source_size"] / pixels,
        )

    def _adopt_stream(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        """A stream already at ``out`` that the manifest does not vouch for: keep it if exact."""
        t1 = time.perf_counter()
        digests, durations, info = self.video_digests(job.source)
        try:
            header, rec["format_version"] = self._check_stream(out, digests, durations, info)
        except FpcodecError as exc:
            raise FpcodecError(
                f"{out} exists and does not decode to this source ({exc}); use -y/--force to overwrite it"
            ) from None
        pixels = info.width * info.height * len(digests)
        size = out.stat().st_size
        rec["seconds"]["verify"] = time.perf_counter() - t1
        rec.update(
            frames=len(digests),
            width=info.width,
            height=info.height,
            channels=info.channels,
            model=_model_name(header),
            stream_size=size,
            bits_per_pixel=8 * size / pixels,
            source_bits_per_pixel=8 * rec["source_size"] / pixels,
            verified=True,
            stream_sha256=sha256_file(out),
            adopted=True,
        )

    def encode(self, job: Job, out_dir: str, expected_sha: str | None = None) -> dict[str, Any]:
        """Encode ``job`` to ``out_dir/job.rel``; ``expected_sha``: the manifest's hash of its source."""
        return self._run("encode", job, out_dir, expected_sha, self._encode, self._adopt_stream)

    # ------------------------------------------------------------------------------------ decode
    def _decode(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        from ..io import write_frames

        opts = self.options
        t0 = time.perf_counter()
        with open(job.source, "rb") as fh:
            from ..pipeline import Decoder

            scan = Decoder(fh, max_pixels=opts.max_pixels, load_model=False)
            durations = [r.duration for r in scan.records()]
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=out.suffix, dir=out.parent)
        os.close(fd)
        try:
            digests: list[bytes] = []
            with open(job.source, "rb") as fh:
                dec = self._decoder(fh)
                h = dec.header

                def frames() -> Iterator[np.ndarray]:
                    for f in dec:
                        digests.append(_digest(f.pixels))
                        yield f.pixels

                # No lossy targets: a batch only writes outputs that hold the frames exactly.
                warnings = write_frames(tmp, frames(), durations, h.time_base, h.loop, force=True)
                version = dec.version
            rec["seconds"]["code"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            if opts.verify:
                got, _, _ = self.video_digests(tmp)
                _compare("output", _collapse(digests), _collapse(got))
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

    def _adopt_output(self, job: Job, out: Path, rec: dict[str, Any]) -> None:
        t1 = time.perf_counter()
        try:
            digests, _, header, version = self.stream_frames(job.source)
            got, _, _ = self.video_digests(out)
            _compare("output", _collapse(digests), _collapse(got))
        except FpcodecError as exc:
            raise FpcodecError(
                f"{out} exists and is not this stream's frames ({exc}); use -y/--force to overwrite it"
            ) from None
        rec["seconds"]["verify"] = time.perf_counter() - t1
        rec.update(
            frames=len(digests),
            width=header.width,
            height=header.height,
            format_version=version,
            output_size=out.stat().st_size,
            verified=True,
            adopted=True,
        )

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
                digests, durations, info = self.video_digests(record["source"])
                self._check_stream(out, digests, durations, info)
            else:
                digests, _, _, _ = self.stream_frames(record["source"])
                got, _, _ = self.video_digests(out)
                _compare("output", _collapse(digests), _collapse(got))
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
