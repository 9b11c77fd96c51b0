"""The benchmark harness: find clips, decode each once, code it with every codec, check, measure.

``run_bench(paths, ...) -> BenchResult`` does the work and returns plain dataclasses; ``report`` and
``plots`` only format what is in there. Per file:

* the frames are decoded once with ``fpcodec.codec.io.VideoReader`` (RGB, or RGBA when any pixel is
  not opaque);
* the source file itself is listed with its size on disk (``gif`` for GIFs, ``source`` otherwise;
  it *is* the reference, so it is marked "source", not checked);
* every fpcodec predictor encodes and decodes the frames (``fpcodec.codec.encode``, then
  ``fpcodec.codec.Decoder`` with the same predictor object, so retraining mid-run cannot interfere);
  the first encode records each prediction's mean for the tutorial's image metrics;
* a non-GIF file of more than 256 colours in a frame (of its first few) is also coded as RGB(A) planes
  (``fpcodec:rgb-planes``, ``encode(planes=True)``), as ``fpcodec encode`` codes it by default;
* every available external codec adapter (``bench.codecs``) encodes to memory and decodes back.

Run 1 of ``repeats`` is also the exactness check: decoded frames are compared with the input pixel
for pixel, and a codec that differs is marked NOT EXACT and never counted in totals. Encode and
decode speeds are medians over the ``repeats`` runs. Peak memory is the peak RSS of child processes
that encode and decode once (``bench.memory``; whole processes, native libraries included). For
each learned predictor, ``bench.gain_sources`` encodes the clip twice more with predictions mixed
from the model and last-frame, to say whether its gain comes from means, scales or coupling.
"""

from __future__ import annotations

import io
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from fpcodec.codec.io import VIDEO_EXTENSIONS, VideoInfo, VideoReader
from fpcodec.models.training.data import PACK_SUFFIX, read_pack

from . import gain_sources as gain_sources_mod
from . import metrics
from .codecs import CodecAdapter, get_adapters
from .memory import FPCODEC_PREFIX, RGB_PLANES

REFERENCE_MODEL = "last-frame"
#: What the "peak" memory numbers are, in the report's words.
MEMORY_METHOD = (
    "peak resident set size (RSS) of a fresh child process that loads the frames from a "
    ".npy file and encodes them once, and of another that decodes the stream once "
    "(python -m fpcodec.bench.memory); it includes the interpreter, numpy, the codec's "
    "libraries (torch for learned fpcodec predictors) and, when encoding, the frames"
)


def fpcodec_key(model: str) -> str:
    return FPCODEC_PREFIX + model


# ----------------------------------------------------------------------------------------- results
@dataclass
class CodecResult:
    """One codec on one file."""

    codec: str
    kind: str  # "fpcodec" | "external" | "source"
    status: str  # "exact" | "source" | "not-exact" | "error" | "skipped"
    bytes: int | None = None
    bits_per_pixel: float | None = None
    encode_seconds: list[float] = field(default_factory=list)
    decode_seconds: list[float] = field(default_factory=list)
    encode_fps: float | None = None  # median over repeats
    decode_fps: float | None = None
    encode_peak_bytes: int | None = None  # peak RSS of a child process encoding once (bench.memory)
    decode_peak_bytes: int | None = None
    frame_bytes: list[int] | None = None  # fpcodec: payload bytes per frame
    detail: str = ""

    @property
    def counted(self) -> bool:
        """Whether this result enters totals: exact codecs and the source file itself."""
        return self.status in ("exact", "source") and self.bytes is not None


@dataclass
class FileResult:
    path: str
    rel: str
    folders: list[str]
    is_gif: bool = False
    width: int = 0
    height: int = 0
    channels: int = 0
    frames: int = 0
    pixels: int = 0
    raw_bytes: int = 0
    source_bytes: int = 0
    frame_ms: float = 0.0
    codecs: dict[str, CodecResult] = field(default_factory=dict)
    #: model -> {"mean": {...}, "per_frame": [{frame, perceptual_distance, psnr, ssim}, ...]}
    prediction: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: model -> bytes of the steps from last-frame to the model (``bench.gain_sources``)
    gain_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


@dataclass
class BenchResult:
    command: str
    started: str
    elapsed_seconds: float
    environment: dict[str, Any]
    config: dict[str, Any]
    codec_info: dict[str, dict[str, Any]]
    skipped: dict[str, str]  # codec key -> reason (unavailable everywhere)
    files: list[FileResult]
    folders: list[dict[str, Any]]
    #: A few frames for the picture (true, predictions); not written to JSON.
    samples: list[dict[str, Any]] = field(default_factory=list)

    def codec_order(self) -> list[str]:
        return list(self.codec_info)

    def to_json(self) -> dict[str, Any]:
        def clean(x):
            if isinstance(x, float) and not np.isfinite(x):
                return None if np.isnan(x) else ("inf" if x > 0 else "-inf")
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, (np.floating, np.integer)):
                return clean(x.item())
            if isinstance(x, Fraction):
                return str(x)
            return x

        data = {
            "command": self.command,
            "started": self.started,
            "elapsed_seconds": self.elapsed_seconds,
            "environment": self.environment,
            "config": self.config,
            "codecs": self.codec_info,
            "skipped": self.skipped,
            "folders": self.folders,
            "files": [asdict(f) for f in self.files],
        }
        return clean(data)


# ------------------------------------------------------------------------------------- discovery
def source_clips(path: str | os.PathLike) -> list[tuple[str, list[np.ndarray], VideoInfo]]:
    """(name, frames, info) of a video, or of every clip of a training pack (``.npz``, named
    ``pack.npz#k``; ``models.training.data``): packs carry clips, RGB only, to a machine without a
    video decoder (the GPU machine, where PyAV is not installed)."""
    path = Path(path)
    if path.suffix.lower() == PACK_SUFFIX:
        out = []
        for k, clip in enumerate(read_pack(path)):
            n, h, w = clip.shape[:3]
            out.append((f"{path}#{k}", list(clip), VideoInfo(w, h, 3, Fraction(1, 100), 0, n)))
        return out
    reader = VideoReader(path)
    return [(str(path), [f for f, _ in reader.frames()], reader.info)]


def pack_source(name: str) -> tuple[Path, int | None]:
    """(file, clip index) of a name from ``source_clips`` (index None: a video file)."""
    file, sep, k = name.rpartition("#")
    if sep and file.lower().endswith(PACK_SUFFIX) and k.isdigit():
        return Path(file), int(k)
    return Path(name), None


def discover(paths: Sequence[str | os.PathLike]) -> list[tuple[Path, list[str]]]:
    """(file, folder labels from the top folder down) for every GIF/video under ``paths``.

    A folder argument contributes its own name as the top label and one label per subfolder
    (``val``, ``val/catz96``); a file argument is labelled with its parent folder's name.
    """
    out: list[tuple[Path, list[str]]] = []
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            top = p.resolve().name or str(p)
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS and f.resolve() not in seen:
                    seen.add(f.resolve())
                    parts = f.relative_to(p).parent.parts
                    labels = [top] + ["/".join((top,) + parts[: i + 1]) for i in range(len(parts))]
                    out.append((f, labels))
        elif p.is_file():
            if p.resolve() not in seen:
                seen.add(p.resolve())
                out.append((p, [p.resolve().parent.name or "."]))
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return out


def _is_gif(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(6) in (b"GIF87a", b"GIF89a")


# ------------------------------------------------------------------------------------ environment
def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    env["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for dist in (
        "fpcodec",
        "torch",
        "av",
        "constriction",
        "numpy",
        "pillow",
        "imagecodecs",
        "scikit-image",
        "matplotlib",
    ):
        env[dist] = _version(dist)
    try:
        import av

        env["ffmpeg"] = getattr(av, "ffmpeg_version_info", None)
    except Exception:
        pass
    try:
        import imagecodecs

        env["libjxl"] = imagecodecs.jpegxl_version()
    except Exception:
        pass
    try:
        from PIL import features

        env["libwebp"] = features.version("webp")
    except Exception:
        pass
    return env


# ----------------------------------------------------------------------------------------- fpcodec
def _prediction_means(predictor, frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame's (from the second) predicted mean, as uint8 HWC, from the frames before it (at
    most HISTORY): what the encoder predicts where it predicts (it leaves out frames where the
    predicted modes keep losing, repeated frames and key frames), for the image metrics."""
    from fpcodec.models.base import HISTORY

    return [
        metrics.prediction_to_uint8(predictor.predict(frames[max(0, k - HISTORY) : k]).mean)
        for k in range(1, len(frames))
    ]


def set_torch_threads(threads: int | None) -> int | None:
    """Limit torch's intra-op threads (only if torch is already imported); returns the setting.

    On a shared machine torch's default thread pool spins against other processes: a small
    predictor that takes 20 ms per frame on one thread took over a second on two busy cores.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_models(names: Sequence[str] | None, device: str = "cpu") -> tuple[dict[str, Any], dict[str, str]]:
    """Instantiate predictors: (name -> Predictor, name -> reason it could not be loaded).

    ``last-frame`` is always included (first), as the reference every gain is measured against.
    """
    from fpcodec.models import registry

    wanted = list(names) if names is not None else list(registry.available())
    if REFERENCE_MODEL in wanted:
        wanted.remove(REFERENCE_MODEL)
    wanted.insert(0, REFERENCE_MODEL)
    loaded: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in dict.fromkeys(wanted):
        if name not in registry.available():
            failed[name] = f"not in the model registry (known: {', '.join(registry.available())})"
            continue
        try:
            loaded[name] = registry.get(name, device=device)
        except Exception as exc:  # WeightsMissingError, ImportError (no torch), ...
            failed[name] = f"{type(exc).__name__}: {exc}"
    return loaded, failed


def _fpcodec_frame_bytes(stream: bytes) -> list[int]:
    from fpcodec.codec import Decoder

    return [len(r.payload) for r in Decoder(io.BytesIO(stream), load_model=False).records()]


def _decode_with(stream: bytes, predictor, device: str) -> list[np.ndarray]:
    """Decode an fpcodec stream with the predictor object that encoded it.

    ``fpcodec.codec.decode`` would load the model's weights from disk again; when someone retrains
    while the benchmark runs, those differ from the ones the encoder used (ModelMismatchError).
    The Decoder still checks the weights hash in the stream against the predictor's.
    """
    from fpcodec.codec import Decoder

    return [f.pixels for f in Decoder(io.BytesIO(stream), device=device, predictor=predictor)]


def _measure(
    res: CodecResult,
    frames: Sequence[np.ndarray],
    pixels: int,
    repeats: int,
    encode: Callable[[int], bytes],
    decode: Callable[[bytes], Sequence[np.ndarray]],
) -> bytes | None:
    """The loop every codec goes through: ``repeats`` timed encode+decode runs (``encode`` gets the
    run number), the first one also checked pixel for pixel against ``frames``. Fills ``res``
    (an exception becomes status "error"); returns the first run's stream."""
    first = None
    try:
        for r in range(repeats):
            data, t_enc = metrics.timed(lambda r=r: encode(r))
            out, t_dec = metrics.timed(lambda data=data: decode(data))
            res.encode_seconds.append(t_enc)
            res.decode_seconds.append(t_dec)
            if r == 0:
                first = data
                res.bytes = len(data)
                res.bits_per_pixel = metrics.bits_per_pixel(len(data), pixels)
                check = metrics.compare_frames(frames, out)
                res.status = "exact" if check.exact else "not-exact"
                res.detail = check.detail
    except Exception as exc:
        res.status = "error"
        res.detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    _finish_speeds(res, len(frames))
    return first


def _measure_memory(res: CodecResult, frames, durations, time_base, frame_ms: int, device: str) -> None:
    """Peak RSS of child processes encoding and decoding once (``bench.memory``); a failure there
    is noted in ``res.detail`` but does not change the codec's status."""
    from . import memory

    if res.status != "exact":
        return
    if not memory.measurable(res.codec):
        res.detail = "; ".join(
            filter(
                None, [res.detail, "peak memory not measured (codec has no name a child process can load)"]
            )
        )
        return
    try:
        res.encode_peak_bytes, res.decode_peak_bytes = memory.peak_rss(
            res.codec, frames, durations, time_base, frame_ms, device
        )
    except Exception as exc:
        res.detail = "; ".join(filter(None, [res.detail, f"peak memory not measured: {exc}"[:300]]))


def _run_fpcodec(
    name: str, predictor, frames, durations, time_base, repeats: int, device: str, pixels: int
) -> tuple[CodecResult, list[np.ndarray], bytes | None]:
    """(result, each frame's (from the second) rounded predicted mean, the first run's stream)."""
    from fpcodec.codec import encode

    res = CodecResult(fpcodec_key(name), "fpcodec", "error")
    stream = _measure(
        res,
        frames,
        pixels,
        repeats,
        lambda _run: encode(
            frames,
            durations=durations,
            model=predictor,
            time_base=time_base,
            device=device,
        ),
        lambda data: _decode_with(data, predictor, device),
    )
    if stream is not None:
        res.frame_bytes = _fpcodec_frame_bytes(stream)
    return res, (_prediction_means(predictor, list(frames)) if stream is not None else []), stream


def _run_rgb_planes(frames, durations, time_base, repeats: int, pixels: int, is_gif: bool) -> CodecResult:
    """The frames as ``fpcodec encode`` codes an RGB source of many colours: planes by the planar
    rule (``rgb_planes.codes_as_planes``); "skipped" where the command would not (a GIF, or at most
    256 colours in each of the first frames: palettes)."""
    from fpcodec.codec import rgb_planes
    from fpcodec.codec.pipeline import decode, encode

    res = CodecResult(fpcodec_key(RGB_PLANES), "fpcodec", "error")
    if not rgb_planes.codes_as_planes(frames, frames[0].shape[2], is_gif):
        res.status = "skipped"
        res.detail = "fpcodec encode codes this file by palettes or its model, not as planes"
        return res
    stream = _measure(
        res,
        frames,
        pixels,
        repeats,
        lambda _run: encode(frames, durations=durations, time_base=time_base, planes=True),
        lambda data: decode(data).frames,
    )
    if stream is not None:
        res.frame_bytes = _fpcodec_frame_bytes(stream)
    return res


def _finish_speeds(res: CodecResult, n: int) -> None:
    res.encode_fps = metrics.fps(n, metrics.median(res.encode_seconds))
    res.decode_fps = metrics.fps(n, metrics.median(res.decode_seconds))


# ----------------------------------------------------------------------------------------- external
def _run_external(adapter: CodecAdapter, frames, frame_ms: int, repeats: int, pixels: int) -> CodecResult:
    res = CodecResult(adapter.name, "external", "error")
    if frames[0].shape[-1] == 4 and not adapter.supports_alpha:
        res.status = "skipped"
        res.detail = "clip has alpha; this codec has no lossless alpha mode here"
        return res
    fps = Fraction(1000, frame_ms)
    durs = [frame_ms] * len(frames)

    def decode(data: bytes) -> list[np.ndarray]:
        decoded = adapter.decode(data)
        out = decoded.frames
        if len(out) != len(frames) and decoded.durations:  # merged repeated frames: expand them
            out = metrics.expand_by_duration(out, decoded.durations, frame_ms / 1000.0)
        return out

    _measure(res, frames, pixels, repeats, lambda r: adapter.encode(frames, durs, fps), decode)
    return res


# ------------------------------------------------------------------------------------------- files
def _read(path: Path):
    """(info, frames, durations, seconds spent decoding the frames after the probe)."""
    reader = VideoReader(path)
    frames, durations = [], []
    t0 = time.perf_counter()
    for f, d in reader.frames():
        frames.append(np.ascontiguousarray(f))
        durations.append(int(d))
    return reader.info, frames, durations, time.perf_counter() - t0


def bench_file(
    path: Path,
    folders: list[str],
    root_rel: str,
    *,
    models: dict[str, Any],
    adapters: Sequence[CodecAdapter],
    repeats: int,
    memory: bool,
    device: str,
    samples: list | None = None,
    max_samples: int = 3,
    model_repeats: int | None = None,
    gain_sources: bool = True,
    rgb_planes: bool = True,
) -> FileResult:
    fr = FileResult(str(path), root_rel, folders)
    fr.source_bytes = path.stat().st_size
    fr.is_gif = _is_gif(path)
    try:
        info, frames, durations, t_read = _read(path)
    except Exception as exc:
        fr.error = f"{type(exc).__name__}: {exc}"
        return fr
    if not frames:
        fr.error = "no frames"
        return fr
    h, w, c = frames[0].shape
    fr.width, fr.height, fr.channels, fr.frames = w, h, c, len(frames)
    fr.pixels = w * h * len(frames)
    fr.raw_bytes = fr.pixels * c
    ms = [d * info.time_base * 1000 for d in durations if d > 0]
    fr.frame_ms = float(sum(ms) / len(ms)) if ms else 40.0
    frame_ms = max(1, int(round(fr.frame_ms)))

    src = CodecResult(
        "gif" if fr.is_gif else "source",
        "source",
        "source",
        bytes=fr.source_bytes,
        bits_per_pixel=metrics.bits_per_pixel(fr.source_bytes, fr.pixels),
        decode_seconds=[t_read],
        detail="the input file itself; decode speed = one VideoReader pass",
    )
    _finish_speeds(src, len(frames))
    fr.codecs[src.codec] = src

    for name, predictor in models.items():
        res, means, _ = _run_fpcodec(
            name, predictor, frames, durations, info.time_base, model_repeats or repeats, device, fr.pixels
        )
        fr.codecs[res.codec] = res
        if memory:
            _measure_memory(res, frames, durations, info.time_base, frame_ms, device)
        if means:
            rows = []
            for k, pred in enumerate(means):
                q = metrics.prediction_quality(frames[k + 1], pred, frames[k])
                rows.append({"frame": k + 1, **q})
            fr.prediction[name] = {"mean": metrics.mean_quality(rows), "per_frame": rows}
            if samples is not None and len(frames) >= 2:
                _add_sample(samples, fr.rel, frames, name, means, max_samples)
    if rgb_planes and not fr.is_gif:
        res = fr.codecs[fpcodec_key(RGB_PLANES)] = _run_rgb_planes(
            frames, durations, info.time_base, repeats, fr.pixels, fr.is_gif
        )
        if memory and res.counted:
            _measure_memory(res, frames, durations, info.time_base, frame_ms, device)
    ref = fr.codecs.get(fpcodec_key(REFERENCE_MODEL))
    for name, predictor in models.items() if gain_sources and ref is not None and ref.counted else ():
        res = fr.codecs[fpcodec_key(name)]
        if name == REFERENCE_MODEL or not res.counted:
            continue
        try:
            fr.gain_sources[name] = gain_sources_mod.measure(
                frames,
                durations,
                info.time_base,
                predictor,
                models[REFERENCE_MODEL],
                reference_bytes=ref.bytes,
                model_bytes=res.bytes,
                device=device,
            )
        except Exception as exc:
            fr.gain_sources[name] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}

    for adapter in adapters:
        res = fr.codecs[adapter.name] = _run_external(adapter, frames, frame_ms, repeats, fr.pixels)
        if memory:
            _measure_memory(res, frames, durations, info.time_base, frame_ms, device)
    return fr


def _add_sample(
    samples: list, rel: str, frames: list[np.ndarray], model: str, means: list[np.ndarray], max_samples: int
) -> None:
    k = max(1, len(frames) // 2)
    entry = next((s for s in samples if s["file"] == rel), None)
    if entry is None:
        if len(samples) >= max_samples:
            return
        entry = {"file": rel, "frame": k, "true": frames[k], "predictions": {}}
        samples.append(entry)
    if k - 1 < len(means):
        entry["predictions"][model] = means[k - 1]


# ------------------------------------------------------------------------------------ aggregation
def aggregate(files: Sequence[FileResult], label: str, codec_keys: Sequence[str]) -> dict[str, Any]:
    """Folder totals: bytes summed over pixels summed, per codec, over the files where it is exact."""
    ok = [f for f in files if f.error is None]
    agg: dict[str, Any] = {
        "folder": label,
        "files": len(ok),
        "unreadable": len(files) - len(ok),
        "frames": sum(f.frames for f in ok),
        "pixels": sum(f.pixels for f in ok),
        "raw_bytes": sum(f.raw_bytes for f in ok),
        "codecs": {},
        "gain_over_last_frame": {},
        "prediction": {},
    }
    for key in codec_keys:
        rows = [(f, f.codecs[key]) for f in ok if key in f.codecs]
        counted = [(f, r) for f, r in rows if r.counted]
        entry: dict[str, Any] = {
            "files_counted": len(counted),
            "files_run": len(rows),
            "not_exact": [f.rel for f, r in rows if r.status == "not-exact"],
            "errors": [f.rel for f, r in rows if r.status == "error"],
            "skipped": [f.rel for f, r in rows if r.status == "skipped"],
        }
        if counted:
            nbytes = sum(r.bytes for _, r in counted)
            pixels = sum(f.pixels for f, _ in counted)
            raw = sum(f.raw_bytes for f, _ in counted)
            gif_pairs = [(f, r) for f, r in counted if f.is_gif]
            entry.update(
                bytes=nbytes,
                pixels=pixels,
                bits_per_pixel=metrics.bits_per_pixel(nbytes, pixels),
                ratio_to_raw=raw / nbytes if nbytes else None,
                size_vs_gif=(sum(r.bytes for _, r in gif_pairs) / sum(f.source_bytes for f, _ in gif_pairs))
                if gif_pairs
                else None,
            )
            enc = [(f.frames, metrics.median(r.encode_seconds)) for f, r in counted if r.encode_seconds]
            dec = [(f.frames, metrics.median(r.decode_seconds)) for f, r in counted if r.decode_seconds]
            entry["encode_fps"] = (
                (sum(n for n, _ in enc) / sum(t for _, t in enc))
                if enc and sum(t for _, t in enc) > 0
                else None
            )
            entry["decode_fps"] = (
                (sum(n for n, _ in dec) / sum(t for _, t in dec))
                if dec and sum(t for _, t in dec) > 0
                else None
            )
            peaks_e = [r.encode_peak_bytes for _, r in counted if r.encode_peak_bytes is not None]
            peaks_d = [r.decode_peak_bytes for _, r in counted if r.decode_peak_bytes is not None]
            entry["encode_peak_bytes"] = max(peaks_e) if peaks_e else None
            entry["decode_peak_bytes"] = max(peaks_d) if peaks_d else None
        agg["codecs"][key] = entry
    ref = fpcodec_key(REFERENCE_MODEL)
    for key in codec_keys:
        if not key.startswith(FPCODEC_PREFIX):
            continue
        pairs = [
            (f.codecs[key], f.codecs[ref])
            for f in ok
            if key in f.codecs and ref in f.codecs and f.codecs[key].counted and f.codecs[ref].counted
        ]
        if pairs:
            agg["gain_over_last_frame"][key[len(FPCODEC_PREFIX) :]] = metrics.gain_percent(
                sum(a.bytes for a, _ in pairs), sum(b.bytes for _, b in pairs)
            )
    agg["gain_sources"] = {}
    for m in sorted({m for f in ok for m in f.gain_sources}):
        rows = [f.gain_sources[m] for f in ok if "error" not in f.gain_sources.get(m, {"error": 1})]
        agg["gain_sources"][m] = gain_sources_mod.summarise(rows)
    models = {m for f in ok for m in f.prediction}
    for m in sorted(models):
        rows = [row for f in ok if m in f.prediction for row in f.prediction[m]["per_frame"]]
        agg["prediction"][m] = metrics.mean_quality(rows)
    return agg


def folder_labels(files: Sequence[FileResult]) -> list[str]:
    seen: dict[str, None] = {}
    for f in files:
        for label in f.folders:
            seen.setdefault(label, None)
    tops = [label for label in seen if "/" not in label]
    ordered: list[str] = []
    for t in tops:
        ordered.append(t)
        ordered.extend(sorted(label for label in seen if label.startswith(t + "/")))
    return ordered


# ------------------------------------------------------------------------------------------- entry
def run_bench(
    paths: Sequence[str | os.PathLike],
    *,
    codecs: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    repeats: int = 3,
    memory: bool = True,
    device: str = "cpu",
    progress: bool = True,
    adapters: Sequence[CodecAdapter] | None = None,
    command: str | None = None,
    max_samples: int = 3,
    torch_threads: int | None = 1,
    model_repeats: int | None = None,
    memory_files: int | None = None,
    gain_sources: bool = True,
    rgb_planes: bool = True,
) -> BenchResult:
    """Benchmark every GIF/video under ``paths``; see the module docstring for what is measured.

    ``codecs``: external codec names (default: all of ``codecs.ALL_CODECS``); ``adapters`` replaces
    them with ready-made adapter objects (tests). ``models``: fpcodec predictors (default: every
    registry name; last-frame is always included). ``torch_threads``: torch intra-op threads for
    learned predictors (default 1; None leaves torch's default). ``model_repeats``: timed runs for
    fpcodec predictors (default ``repeats``; the learned ones are slow on a CPU).
    ``memory_files``: measure peak memory only on the first N files (default all).
    ``gain_sources``: also encode each clip with predictions mixed from each learned model and
    last-frame (``bench.gain_sources``), to say where the model's gain comes from.
    ``rgb_planes``: also code non-GIF files of many colours as planes (``fpcodec:rgb-planes``).
    """
    from tqdm import tqdm

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    started_wall = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.perf_counter()
    entries = discover(paths)
    loaded, failed_models = load_models(models, device)
    threads = set_torch_threads(torch_threads)
    codec_info: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}

    codec_info["gif"] = {
        "kind": "source",
        "label": "GIF (the input file)",
        "settings": "size on disk of the input",
        "notes": "the source; exact by definition",
    }
    if any(not _is_gif(p) for p, _ in entries):
        codec_info["source"] = {
            "kind": "source",
            "label": "source file (non-GIF input)",
            "settings": "size on disk of the input",
            "notes": "the source, often lossy",
        }
    for name in list(loaded) + list(failed_models):
        p = loaded.get(name)
        wh = p.weights_hash.hex() if p is not None else None
        codec_info[fpcodec_key(name)] = {
            "kind": "fpcodec",
            "label": f"fpcodec {name}",
            "settings": f"fpcodec.codec.encode(model={name!r}); decoded by fpcodec.codec.Decoder with "
            f"the same predictor object",
            "notes": (
                "not run"
                if p is None
                else f"weights sha256 {wh[:16]}..."
                if any(wh.strip("0"))
                else "no weights"
            ),
            "weights_sha256": wh,
        }
    for name, reason in failed_models.items():
        skipped[fpcodec_key(name)] = reason
    rgb_planes = rgb_planes and any(not _is_gif(p) for p, _ in entries)
    if rgb_planes:
        codec_info[fpcodec_key(RGB_PLANES)] = {
            "kind": "fpcodec",
            "label": "fpcodec RGB planes",
            "settings": "fpcodec.codec.encode(planes=True): G, B-G, R-G (and alpha) as planes, by the "
            "planar rule (format version 16)",
            "notes": "what fpcodec encode does with a non-GIF file of more than 256 colours in one of its "
            "first frames; run only on such files",
            "weights_sha256": None,
        }

    chosen = list(adapters) if adapters is not None else get_adapters(codecs)
    runnable: list[CodecAdapter] = []
    for a in chosen:
        ok, reason = a.availability()
        codec_info[a.name] = {
            "kind": "external",
            "label": a.label or a.name,
            "settings": a.settings,
            "notes": a.notes,
            "extension": getattr(a, "extension", ""),
        }
        if ok:
            runnable.append(a)
        else:
            skipped[a.name] = reason

    samples: list[dict[str, Any]] = []
    files: list[FileResult] = []
    bar = tqdm(entries, desc="bench", unit="file", disable=not progress, file=sys.stderr)
    for i, (path, labels) in enumerate(bar):
        bar.set_postfix_str(path.name[-30:])
        rel = "/".join([labels[-1], path.name]) if len(labels) > 0 else path.name
        mem = memory and (memory_files is None or i < memory_files)
        files.append(
            bench_file(
                path,
                labels,
                rel,
                models=loaded,
                adapters=runnable,
                repeats=repeats,
                memory=mem,
                device=device,
                samples=samples,
                max_samples=max_samples,
                model_repeats=model_repeats,
                gain_sources=gain_sources,
                rgb_planes=rgb_planes,
            )
        )
    bar.close()

    keys = [k for k in codec_info if k not in skipped]
    folders = [
        aggregate([f for f in files if label in f.folders], label, keys) for label in folder_labels(files)
    ]
    if len([label for label in folder_labels(files) if "/" not in label]) > 1:
        folders.append(aggregate(files, "ALL", keys))

    config = {
        "paths": [str(p) for p in paths],
        "codecs": [a.name for a in chosen],
        "models_requested": list(models) if models is not None else None,
        "models_run": list(loaded),
        "repeats": repeats,
        "model_repeats": model_repeats or repeats,
        "memory_files": memory_files,
        "torch_threads": threads,
        "memory": memory,
        "device": device,
        "memory_method": MEMORY_METHOD,
        "gain_sources": gain_sources,
        "timing_method": f"wall clock, median of {repeats} runs per external codec and "
        f"{model_repeats or repeats} per fpcodec predictor; fpcodec decode uses "
        "the predictor object that encoded (no model loading timed)",
    }
    if memory and memory_files is not None:
        config["memory_method"] += f"; measured on the first {memory_files} file(s) only"
    if memory and files and any(f.error is None for f in files):
        from . import memory as memory_mod

        first = next(f for f in files if f.error is None)
        try:
            config["memory_baseline_bytes"] = memory_mod.baseline_rss(_read(Path(first.path))[1])
            config["memory_baseline_file"] = first.rel
        except Exception as exc:
            config["memory_baseline_error"] = str(exc)[:300]
    return BenchResult(
        command=command or " ".join(sys.argv),
        started=started_wall,
        elapsed_seconds=time.perf_counter() - t0,
        environment=environment(),
        config=config,
        codec_info=codec_info,
        skipped=skipped,
        files=files,
        folders=folders,
        samples=samples,
    )
