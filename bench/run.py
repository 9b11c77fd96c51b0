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
* every available external codec adapter (``bench.codecs``) encodes to memory and decodes back.

Run 1 of ``repeats`` is also the exactness check: decoded frames are compared with the input pixel
for pixel, and a codec that differs is marked NOT EXACT and never counted in totals. Encode and
decode speeds are medians over the ``repeats`` runs. Peak memory is measured in one extra, untimed
run under tracemalloc (Python objects and numpy buffers; allocations inside FFmpeg, the codec
libraries and torch are not seen).
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
from typing import Any, Sequence

import numpy as np

from . import metrics
from .codecs import CodecAdapter, get_adapters

#: Extensions the harness picks up under a folder (GIFs and the common video containers).
VIDEO_EXTENSIONS = {".gif", ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".y4m", ".mpg", ".mpeg",
                    ".ogv", ".flv", ".apng", ".ts"}
REFERENCE_MODEL = "last-frame"
FPCODEC_PREFIX = "fpcodec:"


def fpcodec_key(model: str) -> str:
    return FPCODEC_PREFIX + model


# ----------------------------------------------------------------------------------------- results
@dataclass
class CodecResult:
    """One codec on one file."""

    codec: str
    kind: str                      # "fpcodec" | "external" | "source"
    status: str                    # "exact" | "source" | "not-exact" | "error" | "skipped"
    bytes: int | None = None
    bits_per_pixel: float | None = None
    encode_seconds: list[float] = field(default_factory=list)
    decode_seconds: list[float] = field(default_factory=list)
    encode_fps: float | None = None      # median over repeats
    decode_fps: float | None = None
    encode_peak_bytes: int | None = None  # tracemalloc peak
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
    error: str | None = None


@dataclass
class BenchResult:
    command: str
    started: str
    elapsed_seconds: float
    environment: dict[str, Any]
    config: dict[str, Any]
    codec_info: dict[str, dict[str, Any]]
    skipped: dict[str, str]                  # codec key -> reason (unavailable everywhere)
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
            "command": self.command, "started": self.started, "elapsed_seconds": self.elapsed_seconds,
            "environment": self.environment, "config": self.config, "codecs": self.codec_info,
            "skipped": self.skipped, "folders": self.folders,
            "files": [asdict(f) for f in self.files],
        }
        return clean(data)


# ------------------------------------------------------------------------------------- discovery
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
    for dist in ("fpcodec", "torch", "av", "constriction", "numpy", "pillow", "imagecodecs",
                 "scikit-image", "matplotlib"):
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
class _RecordingPredictor:
    """Wraps a Predictor, keeping each prediction's mean (as uint8 HWC) for the image metrics."""

    def __new__(cls, inner):
        from fpcodec.models.base import Predictor

        class Recording(Predictor):
            name = inner.name
            model_id = inner.model_id

            def __init__(self) -> None:
                self.means: list[np.ndarray] = []

            @property
            def weights_hash(self) -> bytes:
                return inner.weights_hash

            def predict(self, history):
                pred = inner.predict(history)
                self.means.append(metrics.prediction_to_uint8(pred.mean))
                return pred

        return Recording()


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
    The weights hash in the stream is still checked against the predictor's.
    """
    from fpcodec.bitstream.errors import ModelMismatchError
    from fpcodec.codec import Decoder
    dec = Decoder(io.BytesIO(stream), device=device, load_model=False)
    if dec.header.weights_hash != predictor.weights_hash:
        raise ModelMismatchError(f"stream weights {dec.header.weights_hash.hex()[:16]}... differ from the "
                                 f"predictor's {predictor.weights_hash.hex()[:16]}...")
    dec.predictor = predictor
    return [f.pixels for f in dec]


def _run_fpcodec(name: str, predictor, frames, durations, time_base, repeats: int, memory: bool,
                 device: str, pixels: int) -> tuple[CodecResult, list[np.ndarray]]:
    from fpcodec.codec import encode
    decode = lambda stream, device: _decode_with(stream, predictor, device)  # noqa: E731
    res = CodecResult(fpcodec_key(name), "fpcodec", "error")
    recorder = _RecordingPredictor(predictor)
    means: list[np.ndarray] = []
    try:
        for r in range(repeats):
            model = recorder if r == 0 else predictor
            stream, t_enc = metrics.timed(lambda: encode(frames, durations=durations, model=model,
                                                         time_base=time_base, device=device))
            video, t_dec = metrics.timed(lambda: decode(stream, device=device))
            res.encode_seconds.append(t_enc)
            res.decode_seconds.append(t_dec)
            if r == 0:
                means = recorder.means
                res.bytes = len(stream)
                res.bits_per_pixel = metrics.bits_per_pixel(len(stream), pixels)
                res.frame_bytes = _fpcodec_frame_bytes(stream)
                check = metrics.compare_frames(frames, video)
                res.status = "exact" if check.exact else "not-exact"
                res.detail = check.detail
        if memory:
            stream, res.encode_peak_bytes = metrics.traced_peak(
                lambda: encode(frames, durations=durations, model=predictor, time_base=time_base,
                               device=device))
            _, res.decode_peak_bytes = metrics.traced_peak(lambda: decode(stream, device=device))
    except Exception as exc:
        res.status = "error"
        res.detail = f"{type(exc).__name__}: {exc}"
    _finish_speeds(res, len(frames))
    return res, means


def _finish_speeds(res: CodecResult, n: int) -> None:
    res.encode_fps = metrics.fps(n, metrics.median(res.encode_seconds))
    res.decode_fps = metrics.fps(n, metrics.median(res.decode_seconds))


# ----------------------------------------------------------------------------------------- external
def _run_external(adapter: CodecAdapter, frames, frame_ms: int, repeats: int, memory: bool,
                  pixels: int) -> CodecResult:
    res = CodecResult(adapter.name, "external", "error")
    if frames[0].shape[-1] == 4 and not adapter.supports_alpha:
        res.status = "skipped"
        res.detail = "clip has alpha; this codec has no lossless alpha mode here"
        return res
    fps = Fraction(1000, frame_ms)
    durs = [frame_ms] * len(frames)
    try:
        for r in range(repeats):
            data, t_enc = metrics.timed(lambda: adapter.encode(frames, durs, fps))
            decoded, t_dec = metrics.timed(lambda: adapter.decode(data))
            res.encode_seconds.append(t_enc)
            res.decode_seconds.append(t_dec)
            if r == 0:
                res.bytes = len(data)
                res.bits_per_pixel = metrics.bits_per_pixel(len(data), pixels)
                out = decoded.frames
                if len(out) != len(frames) and decoded.durations:
                    out = metrics.expand_by_duration(out, decoded.durations, frame_ms / 1000.0)
                check = metrics.compare_frames(frames, out)
                res.status = "exact" if check.exact else "not-exact"
                res.detail = check.detail
        if memory:
            data, res.encode_peak_bytes = metrics.traced_peak(lambda: adapter.encode(frames, durs, fps))
            _, res.decode_peak_bytes = metrics.traced_peak(lambda: adapter.decode(data))
    except Exception as exc:
        res.status = "error"
        res.detail = f"{type(exc).__name__}: {str(exc)[:300]}"
    _finish_speeds(res, len(frames))
    return res


# ------------------------------------------------------------------------------------------- files
def _read(path: Path):
    """(info, frames, durations, seconds spent decoding the frames after the probe)."""
    from fpcodec.codec.io import VideoReader
    reader = VideoReader(path)
    frames, durations = [], []
    t0 = time.perf_counter()
    for f, d in reader.frames():
        frames.append(np.ascontiguousarray(f))
        durations.append(int(d))
    return reader.info, frames, durations, time.perf_counter() - t0


def bench_file(path: Path, folders: list[str], root_rel: str, *, models: dict[str, Any],
               adapters: Sequence[CodecAdapter], repeats: int, memory: bool, device: str,
               samples: list | None = None, max_samples: int = 3,
               model_repeats: int | None = None) -> FileResult:
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

    src = CodecResult("gif" if fr.is_gif else "source", "source", "source", bytes=fr.source_bytes,
                      bits_per_pixel=metrics.bits_per_pixel(fr.source_bytes, fr.pixels),
                      decode_seconds=[t_read], detail="the input file itself; decode speed = one VideoReader pass")
    _finish_speeds(src, len(frames))
    fr.codecs[src.codec] = src

    for name, predictor in models.items():
        res, means = _run_fpcodec(name, predictor, frames, durations, info.time_base,
                                  model_repeats or repeats,
                                  memory, device, fr.pixels)
        fr.codecs[res.codec] = res
        if means:
            rows = []
            for k, pred in enumerate(means):
                q = metrics.prediction_quality(frames[k + 1], pred, frames[k])
                rows.append({"frame": k + 1, **q})
            fr.prediction[name] = {"mean": metrics.mean_quality(rows), "per_frame": rows}
            if samples is not None and len(frames) >= 2:
                _add_sample(samples, fr.rel, frames, name, means, max_samples)

    for adapter in adapters:
        fr.codecs[adapter.name] = _run_external(adapter, frames, frame_ms, repeats, memory, fr.pixels)
    return fr


def _add_sample(samples: list, rel: str, frames: list[np.ndarray], model: str,
                means: list[np.ndarray], max_samples: int) -> None:
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
    agg: dict[str, Any] = {"folder": label, "files": len(ok), "unreadable": len(files) - len(ok),
                           "frames": sum(f.frames for f in ok), "pixels": sum(f.pixels for f in ok),
                           "raw_bytes": sum(f.raw_bytes for f in ok), "codecs": {}, "gain_over_last_frame": {},
                           "prediction": {}}
    for key in codec_keys:
        rows = [(f, f.codecs[key]) for f in ok if key in f.codecs]
        counted = [(f, r) for f, r in rows if r.counted]
        entry: dict[str, Any] = {
            "files_counted": len(counted), "files_run": len(rows),
            "not_exact": [f.rel for f, r in rows if r.status == "not-exact"],
            "errors": [f.rel for f, r in rows if r.status == "error"],
            "skipped": [f.rel for f, r in rows if r.status == "skipped"],
        }
        if counted:
            nbytes = sum(r.bytes for _, r in counted)
            pixels = sum(f.pixels for f, _ in counted)
            raw = sum(f.raw_bytes for f, _ in counted)
            gif_pairs = [(f, r) for f, r in counted if f.is_gif]
            entry.update(bytes=nbytes, pixels=pixels, bits_per_pixel=metrics.bits_per_pixel(nbytes, pixels),
                         ratio_to_raw=raw / nbytes if nbytes else None,
                         size_vs_gif=(sum(r.bytes for _, r in gif_pairs) / sum(f.source_bytes for f, _ in gif_pairs))
                         if gif_pairs else None)
            enc = [(f.frames, metrics.median(r.encode_seconds)) for f, r in counted if r.encode_seconds]
            dec = [(f.frames, metrics.median(r.decode_seconds)) for f, r in counted if r.decode_seconds]
            entry["encode_fps"] = (sum(n for n, _ in enc) / sum(t for _, t in enc)) if enc and sum(t for _, t in enc) > 0 else None
            entry["decode_fps"] = (sum(n for n, _ in dec) / sum(t for _, t in dec)) if dec and sum(t for _, t in dec) > 0 else None
            peaks_e = [r.encode_peak_bytes for _, r in counted if r.encode_peak_bytes is not None]
            peaks_d = [r.decode_peak_bytes for _, r in counted if r.decode_peak_bytes is not None]
            entry["encode_peak_bytes"] = max(peaks_e) if peaks_e else None
            entry["decode_peak_bytes"] = max(peaks_d) if peaks_d else None
        agg["codecs"][key] = entry
    ref = fpcodec_key(REFERENCE_MODEL)
    for key in codec_keys:
        if not key.startswith(FPCODEC_PREFIX):
            continue
        pairs = [(f.codecs[key], f.codecs[ref]) for f in ok
                 if key in f.codecs and ref in f.codecs and f.codecs[key].counted and f.codecs[ref].counted]
        if pairs:
            agg["gain_over_last_frame"][key[len(FPCODEC_PREFIX):]] = metrics.gain_percent(
                sum(a.bytes for a, _ in pairs), sum(b.bytes for _, b in pairs))
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
def run_bench(paths: Sequence[str | os.PathLike], *, codecs: Sequence[str] | None = None,
              models: Sequence[str] | None = None, repeats: int = 3, memory: bool = True,
              device: str = "cpu", progress: bool = True, adapters: Sequence[CodecAdapter] | None = None,
              command: str | None = None, max_samples: int = 3,
              torch_threads: int | None = 1, model_repeats: int | None = None,
              memory_files: int | None = None) -> BenchResult:
    """Benchmark every GIF/video under ``paths``; see the module docstring for what is measured.

    ``codecs``: external codec names (default: all of ``codecs.ALL_CODECS``); ``adapters`` replaces
    them with ready-made adapter objects (tests). ``models``: fpcodec predictors (default: every
    registry name; last-frame is always included). ``torch_threads``: torch intra-op threads for
    learned predictors (default 1; None leaves torch's default). ``model_repeats``: timed runs for
    fpcodec predictors (default ``repeats``; the learned ones are slow on a CPU).
    ``memory_files``: measure peak memory only on the first N files (default all).
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

    codec_info["gif"] = {"kind": "source", "label": "GIF (the input file)",
                         "settings": "size on disk of the input", "notes": "the source; exact by definition"}
    if any(not _is_gif(p) for p, _ in entries):
        codec_info["source"] = {"kind": "source", "label": "source file (non-GIF input)",
                                "settings": "size on disk of the input", "notes": "the source, often lossy"}
    for name in list(loaded) + list(failed_models):
        p = loaded.get(name)
        wh = p.weights_hash.hex() if p is not None else None
        codec_info[fpcodec_key(name)] = {
            "kind": "fpcodec", "label": f"fpcodec {name}",
            "settings": f"fpcodec.codec.encode(model={name!r}); decoded by fpcodec.codec.Decoder with "
                        f"the same predictor object",
            "notes": ("not run" if p is None else
                      f"weights sha256 {wh[:16]}..." if any(wh.strip("0")) else "no weights"),
            "weights_sha256": wh}
    for name, reason in failed_models.items():
        skipped[fpcodec_key(name)] = reason

    chosen = list(adapters) if adapters is not None else get_adapters(codecs)
    runnable: list[CodecAdapter] = []
    for a in chosen:
        ok, reason = a.availability()
        codec_info[a.name] = {"kind": "external", "label": a.label or a.name, "settings": a.settings,
                              "notes": a.notes, "extension": getattr(a, "extension", "")}
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
        files.append(bench_file(path, labels, rel, models=loaded, adapters=runnable, repeats=repeats,
                                memory=mem, device=device, samples=samples, max_samples=max_samples,
                                model_repeats=model_repeats))
    bar.close()

    keys = [k for k in codec_info if k not in skipped]
    folders = [aggregate([f for f in files if label in f.folders], label, keys)
               for label in folder_labels(files)]
    if len([label for label in folder_labels(files) if "/" not in label]) > 1:
        folders.append(aggregate(files, "ALL", keys))

    config = {"paths": [str(p) for p in paths], "codecs": [a.name for a in chosen],
              "models_requested": list(models) if models is not None else None,
              "models_run": list(loaded), "repeats": repeats, "model_repeats": model_repeats or repeats,
              "memory_files": memory_files, "torch_threads": threads, "memory": memory, "device": device,
              "memory_method": "tracemalloc peak in one extra untimed run (Python objects and numpy "
                               "buffers; native allocations in FFmpeg/codec libraries/torch not seen)",
              "timing_method": f"wall clock, median of {repeats} runs per external codec and "
                               f"{model_repeats or repeats} per fpcodec predictor; fpcodec decode includes "
                               "loading the predictor (fpcodec.codec.decode)"}
    if memory and memory_files is not None:
        config["memory_method"] += f"; measured on the first {memory_files} file(s) only"
    return BenchResult(command=command or " ".join(sys.argv), started=started_wall,
                       elapsed_seconds=time.perf_counter() - t0, environment=environment(),
                       config=config, codec_info=codec_info, skipped=skipped, files=files,
                       folders=folders, samples=samples)
