"""fpcodec against the classical lossless video codecs on natural video, in each clip's own pixel format.

``python -m fpcodec.bench.natural CORPUS_DIR -o bench/results/natural/``, or on video files:
``python -m fpcodec.bench.natural a.mp4 b.y4m -o report/`` (also ``fpcodec bench --native ...``)

CORPUS_DIR is what ``python -m fpcodec.bench.natural_corpus build`` wrote (the clips as FFV1 in
Matroska, ``natural_corpus.json`` naming each clip's split). Every clip is coded with

* fpcodec: a planar (format version 7) stream, as ``fpcodec encode`` writes for YUV input (the
  ``last-frame`` planar rule, default key frames), decoded and compared sample for sample;
* FFV1, x264, x265 and VP9 lossless through PyAV's FFmpeg, in the clip's own pixel format
  (yuv420p/422p/444p/gray), in Matroska; decoded by FFmpeg and compared sample for sample;
* JPEG XL lossless (imagecodecs/libjxl) of the clip converted to RGB24 (swscale, as a player would):
  a different signal, not the native samples; checked exact against that RGB.

A codec that this installation lacks, that does not take the pixel format, that fails or that does
not give the samples back is reported as such (never dropped). Bits per pixel = bytes * 8 /
(width * height * frames), container included. Per split, totals are total bits / total pixels;
"best" is per clip the smallest exact result of FFV1, x264 and x265.

Outputs in the output folder: ``natural.json`` (every number), ``NATURAL.md`` (tables), and
``natural.png`` (bits per pixel per source and codec).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

PROG = "natural"
CODECS = ("fpcodec", "ffv1", "x264", "x265", "vp9", "jxl")
CLASSICAL = ("ffv1", "x264", "x265")  # the "best of" set
#: Splits in report order: the corpus' held-out and tuning clips, and video files given directly.
SPLITS = ("test", "dev", "files")
_VERDICT_NAMES = {"test": "Held-out (test)", "dev": "Dev", "files": "Given files"}
_TITLES = {
    "test": "Test split (held out, never used for tuning)",
    "dev": "Dev split (tuned on)",
    "files": "Given files",
}
_PLOT_NAMES = {"test": "test (held out)", "dev": "dev (tuned on)", "files": "given files"}
NATIVE = ("ffv1", "x264", "x265", "vp9")  # every classical codec on the native samples
LABELS = {
    "fpcodec": "fpcodec",
    "ffv1": "FFV1",
    "x264": "x264",
    "x265": "x265",
    "vp9": "VP9",
    "jxl": "JXL (RGB24)",
}


@dataclass(frozen=True)
class PyAVSpec:
    encoder: str
    options: dict[str, str]
    notes: str = ""

    @property
    def settings(self) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options.items())
        return f"PyAV/FFmpeg `{self.encoder}` {opts}; native pix_fmt; Matroska"


PYAV = {
    "ffv1": PyAVSpec(
        "ffv1",
        {"level": "3", "coder": "1", "context": "1", "slicecrc": "0", "g": "1000"},
        "range coder, large context model, default slices; g=1000 keeps the adaptive states over the "
        "whole clip (as bench/codecs.py); intra only",
    ),
    "x264": PyAVSpec("libx264", {"qp": "0", "preset": "veryslow"}, "qp 0 = lossless (transform bypass)"),
    "x265": PyAVSpec("libx265", {"preset": "slow", "x265-params": "lossless=1:log-level=error"}),
    "vp9": PyAVSpec(
        "libvpx-vp9", {"lossless": "1", "deadline": "good", "cpu-used": "1", "row-mt": "1"}, "no gray"
    ),
}
JXL_SETTINGS = (
    "imagecodecs.jpegxl_encode(frames, lossless=True, effort default 7) of the RGB24 conversion "
    "(swscale, BT.601 unless tagged, the clip's range): on RGB24, not native; frame by frame"
)


# ------------------------------------------------------------------------------------------ clip
@dataclass
class Clip:
    name: str
    path: Path
    fmt: Any  # codec.planar_io.PixelFormat
    colour: Any  # codec.planar_io.ColourInfo
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    frames: list[list[np.ndarray]]
    durations: list[int]

    @property
    def pixels(self) -> int:
        return self.width * self.height * len(self.frames)


def load_clip(path: str | Path, max_frames: int | None = None, name: str | None = None) -> Clip:
    """A clip's frames in its own pixel format (the first ``max_frames`` when given)."""
    from ..codec.planar_io import NativeReader

    path = Path(path)
    reader = NativeReader(path)
    if reader.pixel_format is None:
        raise ValueError(f"{path}: pix_fmt {reader.source_pix_fmt} is not a planar format fpcodec codes")
    frames, durations = [], []
    for planes, duration in reader.frames():
        if max_frames is not None and len(frames) >= max_frames:
            break
        frames.append(planes)
        durations.append(duration)
    return Clip(
        name=name or path.stem,
        path=path,
        fmt=reader.pixel_format,
        colour=reader.colour,
        width=reader.width,
        height=reader.height,
        fps=reader.frame_rate or Fraction(25),
        time_base=reader.time_base,
        frames=frames,
        durations=durations,
    )


def _same(a: Sequence[Sequence[np.ndarray]], b: Sequence[Sequence[np.ndarray]]) -> tuple[bool, str]:
    if len(a) != len(b):
        return False, f"{len(b)} frames back, {len(a)} in"
    for i, (fa, fb) in enumerate(zip(a, b, strict=True)):
        if len(fa) != len(fb):
            return False, f"frame {i}: {len(fb)} planes back, {len(fa)} in"
        for k, (pa, pb) in enumerate(zip(fa, fb, strict=True)):
            if pa.shape != pb.shape or not np.array_equal(pa, pb):
                return False, f"frame {i} plane {k} differs"
    return True, ""


class _Timer:
    def __enter__(self) -> "_Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _result(clip: Clip, codec: str, **kw: Any) -> dict[str, Any]:
    out = {
        "codec": codec,
        "label": LABELS[codec],
        "available": True,
        "reason": "",
        "exact": None,
        "bytes": None,
        "bits_per_pixel": None,
        "encode_wall_s": None,
        "encode_cpu_s": None,
        "decode_wall_s": None,
        "decode_cpu_s": None,
    }
    out.update(kw)
    if out["bytes"] is not None:
        out["bits_per_pixel"] = 8 * out["bytes"] / clip.pixels
    return out


# --------------------------------------------------------------------------------------- fpcodec
def code_fpcodec(clip: Clip) -> dict[str, Any]:
    """A planar stream as ``fpcodec encode`` writes it for this input, then decoded and compared."""
    from ..codec.pipeline import Decoder, Encoder
    from ..models import registry

    buf = io.BytesIO()
    with _Timer() as te:
        enc = Encoder(
            buf,
            width=clip.width,
            height=clip.height,
            channels=clip.fmt.planes,
            model=registry.PLANAR_MODEL,
            time_base=clip.time_base,
            pixel_format=clip.fmt,
            colour=clip.colour,
        )
        for planes, duration in zip(clip.frames, clip.durations, strict=True):
            enc.write_planes(planes, duration)
        enc.close()
    data = buf.getvalue()
    with _Timer() as td:
        back = [f.planes for f in Decoder(io.BytesIO(data))]
    exact, why = _same(clip.frames, back)
    return _result(
        clip,
        "fpcodec",
        exact=exact,
        reason=why,
        bytes=len(data),
        encode_wall_s=te.wall,
        encode_cpu_s=te.cpu,
        decode_wall_s=td.wall,
        decode_cpu_s=td.cpu,
        frame_bytes=list(enc.frame_sizes),
    )


def encode_file(path: str | Path) -> tuple[bytes, float]:
    """The stream ``fpcodec encode`` writes of a video file in its own pixel format (in process),
    and the encoding seconds: for the benchmarks that compare the encoder's choices on one file."""
    from ..codec import planar_io

    reader = planar_io.native_reader(str(path))
    buf = io.BytesIO()
    start = time.perf_counter()
    encoder = planar_io.planar_encoder(buf, reader)
    for planes, duration in reader.frames():
        encoder.write_planes(planes, duration)
    encoder.close()
    return buf.getvalue(), time.perf_counter() - start


def decode_exactly(stream: bytes, frames: Sequence[Sequence[np.ndarray]]) -> float:
    """The decoding seconds of a planar stream; AssertionError unless it decodes to ``frames``."""
    from ..codec.pipeline import Decoder

    start = time.perf_counter()
    decoded = [f.planes for f in Decoder(io.BytesIO(stream))]
    seconds = time.perf_counter() - start
    exact, why = _same(frames, decoded)
    assert exact, why
    return seconds


# ------------------------------------------------------------------------------------------ PyAV
def pyav_availability(spec: PyAVSpec, pix_fmt: str) -> tuple[bool, str]:
    import av

    if spec.encoder not in av.codecs_available:
        return False, f"PyAV's FFmpeg has no {spec.encoder} encoder"
    try:
        formats = {f.name for f in (av.codec.Codec(spec.encoder, "w").video_formats or [])}
    except Exception as exc:  # pragma: no cover - a broken build
        return False, f"{spec.encoder} cannot be opened ({exc})"
    if formats and pix_fmt not in formats:
        return False, f"{spec.encoder} does not take {pix_fmt}"
    return True, ""


def _video_frame(planes: list[np.ndarray], clip: Clip):
    import av

    vf = av.VideoFrame(clip.width, clip.height, clip.fmt.name)
    for plane, samples in zip(vf.planes, planes, strict=True):
        stride = plane.line_size // samples.itemsize
        padded = np.zeros((samples.shape[0], stride), samples.dtype)
        padded[:, : samples.shape[1]] = samples
        plane.update(padded.tobytes())
    c = clip.colour
    vf.color_range, vf.colorspace = c.color_range, c.colorspace
    vf.color_primaries, vf.color_trc = c.color_primaries, c.color_trc
    return vf


def _silence() -> None:
    from .codecs import _silence_ffmpeg

    _silence_ffmpeg()


def pyav_encode(spec: PyAVSpec, clip: Clip) -> bytes:
    import av

    _silence()
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as cont:
        stream = cont.add_stream(spec.encoder, rate=clip.fps, options=dict(spec.options))
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, clip.fmt.name
        cc = stream.codec_context
        c = clip.colour
        cc.color_range, cc.colorspace = c.color_range, c.colorspace
        cc.color_primaries, cc.color_trc = c.color_primaries, c.color_trc
        for i, planes in enumerate(clip.frames):
            vf = _video_frame(planes, clip)
            vf.pts = i
            vf.time_base = 1 / clip.fps
            for pkt in stream.encode(vf):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
    return buf.getvalue()


def pyav_decode(data: bytes, clip: Clip) -> tuple[list[list[np.ndarray]], str]:
    """The frames back as planes; a reason when FFmpeg gives another pixel format or size."""
    import av

    from ..codec.planar_io import pixel_format_by_name

    _silence()
    shapes = clip.fmt.plane_shapes(clip.width, clip.height)
    out = []
    with av.open(io.BytesIO(data), "r") as cont:
        for frame in cont.decode(cont.streams.video[0]):
            if pixel_format_by_name(frame.format.name) != clip.fmt:
                return out, f"decodes as {frame.format.name}, not {clip.fmt.name}"
            if (frame.width, frame.height) != (clip.width, clip.height):
                return out, f"decodes as {frame.width}x{frame.height}"
            planes = []
            for plane, (h, w) in zip(frame.planes, shapes, strict=True):
                stride = plane.line_size // np.dtype(clip.fmt.dtype).itemsize
                view = np.frombuffer(plane, clip.fmt.dtype)[: h * stride].reshape(h, stride)[:, :w]
                planes.append(np.array(view))
            out.append(planes)
    return out, ""


def code_pyav(name: str, clip: Clip) -> dict[str, Any]:
    spec = PYAV[name]
    ok, why = pyav_availability(spec, clip.fmt.name)
    if not ok:
        return _result(clip, name, available=False, reason=why)
    try:
        with _Timer() as te:
            data = pyav_encode(spec, clip)
        with _Timer() as td:
            back, why = pyav_decode(data, clip)
    except Exception as exc:
        return _result(clip, name, exact=False, reason=f"failed: {type(exc).__name__}: {exc}")
    exact, diff = _same(clip.frames, back) if not why else (False, why)
    return _result(
        clip,
        name,
        exact=exact,
        reason=diff,
        bytes=len(data),
        encode_wall_s=te.wall,
        encode_cpu_s=te.cpu,
        decode_wall_s=td.wall,
        decode_cpu_s=td.cpu,
    )


# ------------------------------------------------------------------------------------------- JXL
def code_jxl(clip: Clip) -> dict[str, Any]:
    """JPEG XL lossless of the RGB24 conversion (not the native samples)."""
    from ..codec.planar_convert import to_rgb
    from .codecs import JpegXLCodec

    adapter = JpegXLCodec()
    ok, why = adapter.availability()
    if not ok:
        return _result(clip, "jxl", available=False, reason=why, signal="rgb24")
    rgb = list(to_rgb(clip.frames, clip.fmt, clip.colour, clip.width, clip.height))
    try:
        with _Timer() as te:
            data = adapter.encode(rgb, [0] * len(rgb), clip.fps)
        with _Timer() as td:
            back = adapter.decode(data).frames
    except Exception as exc:
        return _result(
            clip, "jxl", exact=False, reason=f"failed: {type(exc).__name__}: {exc}", signal="rgb24"
        )
    exact = len(back) == len(rgb) and all(np.array_equal(a, b) for a, b in zip(rgb, back, strict=True))
    return _result(
        clip,
        "jxl",
        exact=exact,
        reason="" if exact else "RGB24 frames differ",
        bytes=len(data),
        encode_wall_s=te.wall,
        encode_cpu_s=te.cpu,
        decode_wall_s=td.wall,
        decode_cpu_s=td.cpu,
        signal="rgb24",
    )


# --------------------------------------------------------------------------------------- a clip
def _bpp(res: dict[str, Any]) -> float | None:
    return res["bits_per_pixel"] if res.get("exact") else None


def code_clip(
    path: str | Path,
    codecs: Sequence[str] = CODECS,
    max_frames: int | None = None,
    name: str | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Every codec on one clip: sizes, exactness, times, and fpcodec's ratios to the classical
    codecs (``ratio_vs_best``: to the smallest exact one of FFV1/x264/x265; ``ratio_vs_x264``)."""
    clip = load_clip(path, max_frames, name)
    results: dict[str, dict[str, Any]] = {}
    for codec in codecs:
        if codec == "fpcodec":
            results[codec] = code_fpcodec(clip)
        elif codec == "jxl":
            results[codec] = code_jxl(clip)
        elif codec in PYAV:
            results[codec] = code_pyav(codec, clip)
        else:
            raise KeyError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
    return clip_ratios(
        {
            "name": clip.name,
            "split": split,
            "file": str(path),
            "pix_fmt": clip.fmt.name,
            "color_range": clip.colour.color_range,
            "width": clip.width,
            "height": clip.height,
            "frames": len(clip.frames),
            "pixels": clip.pixels,
            "codecs": results,
        }
    )


def clip_ratios(res: dict[str, Any]) -> dict[str, Any]:
    """Adds fpcodec's ratios to a clip's results: ``best_classical`` / ``ratio_vs_best`` (the
    smallest exact one of FFV1/x264/x265), ``best_native`` / ``ratio_vs_best_native`` (the same
    with VP9 too), ``ratio_vs_x264``."""
    results = res["codecs"]
    fp = _bpp(results["fpcodec"]) if "fpcodec" in results else None
    for key, among in (("best_classical", CLASSICAL), ("best_native", NATIVE)):
        best = min(
            (
                (results[c]["bits_per_pixel"], c)
                for c in among
                if c in results and _bpp(results[c]) is not None
            ),
            default=None,
        )
        res[key] = best[1] if best else None
        res[key + "_bpp"] = best[0] if best else None
        ratio_key = "ratio_vs_best" if key == "best_classical" else "ratio_vs_best_native"
        res[ratio_key] = fp / best[0] if fp is not None and best else None
    x264 = _bpp(results["x264"]) if "x264" in results else None
    res["ratio_vs_x264"] = fp / x264 if fp is not None and x264 else None
    return res


# ---------------------------------------------------------------------------------------- totals
def split_totals(clips: Sequence[dict[str, Any]], codecs: Sequence[str]) -> dict[str, Any]:
    """Total bits / total pixels per codec (over the clips where it is exact), the per-clip best
    of FFV1/x264/x265 the same way, and fpcodec's ratios of totals."""
    pixels = sum(c["pixels"] for c in clips)
    out: dict[str, Any] = {"clips": len(clips), "pixels": pixels, "frames": sum(c["frames"] for c in clips)}
    per: dict[str, Any] = {}
    for codec in codecs:
        ok = [c for c in clips if c["codecs"].get(codec, {}).get("exact")]
        bits = sum(8 * c["codecs"][codec]["bytes"] for c in ok)
        px = sum(c["pixels"] for c in ok)
        per[codec] = {
            "clips_exact": len(ok),
            "complete": len(ok) == len(clips),
            "bits": bits,
            "pixels": px,
            "bits_per_pixel": bits / px if px else None,
        }
    out["codecs"] = per
    for key in ("best_classical", "best_native"):
        best_ok = [c for c in clips if c.get(key + "_bpp") is not None]
        best_bits = sum(c[key + "_bpp"] * c["pixels"] for c in best_ok)
        out[key] = {
            "clips": len(best_ok),
            "bits_per_pixel": best_bits / pixels if best_ok and len(best_ok) == len(clips) else None,
        }
    fp = per.get("fpcodec", {}).get("bits_per_pixel") if per.get("fpcodec", {}).get("complete") else None

    def ratio(other: float | None) -> float | None:
        return fp / other if fp is not None and other else None

    out["ratio_vs_best"] = ratio(out["best_classical"]["bits_per_pixel"])
    out["ratio_vs_best_native"] = ratio(out["best_native"]["bits_per_pixel"])
    x264 = per.get("x264", {})
    out["ratio_vs_x264"] = ratio(x264.get("bits_per_pixel") if x264.get("complete") else None)
    out["ratio_vs_codec"] = {
        c: ratio(per[c]["bits_per_pixel"] if per[c]["complete"] else None) for c in codecs if c != "fpcodec"
    }
    wins = [c for c in clips if c["ratio_vs_best"] is not None]
    out["fpcodec_below_best_clips"] = sum(1 for c in wins if c["ratio_vs_best"] < 1)
    out["clips_compared"] = len(wins)
    out["fpcodec_below_best_native_clips"] = sum(
        1 for c in clips if c.get("ratio_vs_best_native") is not None and c["ratio_vs_best_native"] < 1
    )
    out["time"] = {}
    for codec in codecs:
        rs = [c["codecs"][codec] for c in clips if c["codecs"].get(codec, {}).get("encode_cpu_s") is not None]
        if rs:
            out["time"][codec] = {
                k: sum(r[k] for r in rs)
                for k in ("encode_wall_s", "encode_cpu_s", "decode_wall_s", "decode_cpu_s")
            }
            out["time"][codec]["frames"] = sum(
                c["frames"] for c in clips if c["codecs"].get(codec, {}).get("encode_cpu_s") is not None
            )
    fpc = [c["codecs"]["fpcodec"] for c in clips if "fpcodec" in c["codecs"]]
    if fpc and all(r.get("encode_cpu_s") is not None for r in fpc):
        frames = sum(c["frames"] for c in clips)
        out["fpcodec_time"] = {
            k: sum(r[k] for r in fpc)
            for k in ("encode_wall_s", "encode_cpu_s", "decode_wall_s", "decode_cpu_s")
        }
        out["fpcodec_time"]["frames"] = frames
    return out


# ----------------------------------------------------------------------------------------- report
def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _cell(res: dict[str, Any] | None) -> str:
    if res is None:
        return "not run"
    if not res["available"]:
        return "n/a"
    if not res["exact"]:
        return "NOT EXACT" if res["bytes"] is not None and "failed" not in res["reason"] else "failed"
    return _fmt(res["bits_per_pixel"])


def _verdict(totals: dict[str, Any], split: str) -> str:
    r = totals.get("ratio_vs_best")
    best = totals["best_classical"]["bits_per_pixel"]
    fp = totals["codecs"].get("fpcodec", {}).get("bits_per_pixel")
    n, k = totals["clips_compared"], totals["fpcodec_below_best_clips"]
    if r is None:
        return f"**{split}: no complete comparison (see the table).**"
    word = "BELOW" if r < 1 else "ABOVE"
    text = (
        f"**{split} split: fpcodec is {word} the best of FFV1/x264/x265: {_fmt(fp)} vs {_fmt(best)} "
        f"bits/pixel in total (ratio {_fmt(r)}, {100 * (r - 1):+.1f} %); below the best on {k} of {n} clips.**"
    )
    rn = totals.get("ratio_vs_best_native")
    if rn is not None:
        text += (
            f" With VP9 among them (best of FFV1/x264/x265/VP9 per clip, "
            f"{_fmt(totals['best_native']['bits_per_pixel'])} bits/pixel): ratio {_fmt(rn)}, below on "
            f"{totals['fpcodec_below_best_native_clips']} of {n} clips."
        )
    return text


def render_markdown(report: dict[str, Any]) -> str:
    codecs = report["codecs"]
    lines = ["# fpcodec on natural video (own pixel format)", ""]
    lines += ["Commands:", "", "```"] + report["commands"] + ["```", ""]
    for split in SPLITS:
        if split in report["totals"]:
            lines.append(_verdict(report["totals"][split], _VERDICT_NAMES[split]))
            lines.append("")
    env = report["environment"]
    lines += [
        f"fpcodec commit {env.get('git_commit')}"
        + (
            f" plus uncommitted changes to codec/, bitstream/ or models/ (diff sha256 "
            f"{env.get('codec_diff_sha256', '?')[:16]})"
            if env.get("codec_dirty")
            else " (codec/, bitstream/, models/ as committed)"
        )
        + f", from {env.get('fpcodec_path')}"
        + f"; PyAV {env.get('av')} (FFmpeg {env.get('ffmpeg')}); imagecodecs {env.get('imagecodecs')} "
        f"({env.get('libjxl')}); {env.get('cpu_model', '?')}, {env.get('cpus_usable')} CPUs usable.",
        "",
        "Bits per pixel = bytes * 8 / (width * height * frames), container included (lower is better). "
        "Every number is for an exact (sample-for-sample) result; `n/a` = codec or pixel format not "
        "available, `NOT EXACT` / `failed` = see below. 'best' = per clip the smallest of FFV1, x264 "
        "and x265; ratio < 1 means fpcodec is smaller. JXL codes the RGB24 conversion (a different, "
        "lossy-converted signal), so it is shown for orientation only and not in 'best'.",
        "",
    ]
    for split in SPLITS:
        clips = [c for c in report["clips"] if c["split"] == split]
        if not clips:
            continue
        tot = report["totals"][split]
        title = _TITLES[split]
        lines += [f"## {title}", ""]
        header = (
            ["source", "pix_fmt", "size x frames"]
            + [LABELS[c] for c in codecs]
            + ["fpcodec / best", "fpcodec / x264", "fpcodec / best incl. VP9"]
        )
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * 3 + "---:|" * (len(codecs) + 3))
        for c in clips:
            row = [c["name"], c["pix_fmt"], f"{c['width']}x{c['height']} x {c['frames']}"]
            row += [_cell(c["codecs"].get(k)) for k in codecs]
            best = (
                f"{_fmt(c['ratio_vs_best'])} ({LABELS[c['best_classical']]})" if c["best_classical"] else "–"
            )
            native = c.get("best_native")
            row += [
                best,
                _fmt(c["ratio_vs_x264"]),
                f"{_fmt(c.get('ratio_vs_best_native'))} ({LABELS[native]})" if native else "–",
            ]
            lines.append("| " + " | ".join(row) + " |")
        per = tot["codecs"]
        row = ["**total**", "", f"{tot['clips']} clips, {tot['frames']} frames"]
        for k in codecs:
            p = per[k]
            mark = "" if p["complete"] else f" ({p['clips_exact']}/{tot['clips']} clips)"
            row.append(f"**{_fmt(p['bits_per_pixel'])}**{mark}" if p["bits_per_pixel"] is not None else "–")
        row += [
            f"**{_fmt(tot['ratio_vs_best'])}** (best {_fmt(tot['best_classical']['bits_per_pixel'])})",
            f"**{_fmt(tot['ratio_vs_x264'])}**",
            f"**{_fmt(tot.get('ratio_vs_best_native'))}** (best {_fmt(tot['best_native']['bits_per_pixel'])})",
        ]
        lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        others = ", ".join(
            f"{LABELS[k]} {_fmt(v)}" for k, v in tot["ratio_vs_codec"].items() if v is not None and k != "jxl"
        )
        lines += [f"fpcodec total / each codec's total: {others}.", ""]
        times = tot.get("time", {})
        if times:
            lines += [
                "Time over the split (sums over its clips; CPU = process time, all threads; fps = frames / wall s):",
                "",
                "| codec | encode wall s | encode CPU s | encode fps | decode wall s | decode CPU s | decode fps |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for k, t in times.items():
                f = t["frames"]
                lines.append(
                    f"| {LABELS[k]} | {t['encode_wall_s']:.1f} | {t['encode_cpu_s']:.1f} | "
                    f"{f / t['encode_wall_s']:.2f} | {t['decode_wall_s']:.1f} | {t['decode_cpu_s']:.1f} | "
                    f"{f / t['decode_wall_s']:.2f} |"
                )
            lines.append("")
    lines += ["## fpcodec time per clip", ""]
    lines.append(
        "| source | split | encode wall s | encode CPU s | decode wall s | decode CPU s | enc frames/s |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for c in report["clips"]:
        r = c["codecs"].get("fpcodec")
        if r and r.get("encode_wall_s") is not None:
            lines.append(
                f"| {c['name']} | {c['split']} | {r['encode_wall_s']:.1f} | {r['encode_cpu_s']:.1f} | "
                f"{r['decode_wall_s']:.1f} | {r['decode_cpu_s']:.1f} | {c['frames'] / r['encode_wall_s']:.2f} |"
            )
    lines += ["", "## Settings", ""]
    for k in codecs:
        lines.append(f"- **{LABELS[k]}**: {report['settings'][k]}")
    problems = [
        f"- {c['name']} / {LABELS[k]}: {'unavailable' if not r['available'] else 'not exact'}: {r['reason']}"
        for c in report["clips"]
        for k, r in c["codecs"].items()
        if not r["available"] or not r["exact"]
    ]
    lines += ["", "## Unavailable or inexact", ""] + (
        problems or ["None: every codec gave every clip back exactly."]
    )
    lines.append("")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    codecs = report["codecs"]
    splits = [s for s in SPLITS if any(c["split"] == s for c in report["clips"])]
    if not splits:
        return None
    counts = [sum(1 for c in report["clips"] if c["split"] == s) for s in splits]
    fig, axes = plt.subplots(
        1,
        len(splits),
        figsize=(max(8.0, 0.6 * sum(counts) + 3), 6.5),
        sharey=True,
        gridspec_kw={"width_ratios": counts},
        squeeze=False,
    )
    colours = {
        "fpcodec": "#d62728",
        "ffv1": "#1f77b4",
        "x264": "#2ca02c",
        "x265": "#9467bd",
        "vp9": "#ff7f0e",
        "jxl": "#bbbbbb",
    }
    width = 0.8 / len(codecs)
    for ax, split in zip(axes[0], splits, strict=True):
        clips = [c for c in report["clips"] if c["split"] == split]
        x = np.arange(len(clips))
        for j, k in enumerate(codecs):
            vals = [
                c["codecs"].get(k, {}).get("bits_per_pixel") if c["codecs"].get(k, {}).get("exact") else 0
                for c in clips
            ]
            ax.bar(
                x + (j - (len(codecs) - 1) / 2) * width,
                vals,
                width,
                color=colours.get(k, "#777777"),
                label=LABELS[k] + (" (not native)" if k == "jxl" else ""),
                hatch="//" if k == "jxl" else None,
            )
        ax.set_xticks(x)
        ax.set_xticklabels([c["name"] for c in clips], rotation=60, ha="right", fontsize=7)
        tot = report["totals"][split]
        r = tot.get("ratio_vs_best")
        name = _PLOT_NAMES[split]
        ax.set_title(
            f"{name}: {len(clips)} clips\nfpcodec / best(FFV1, x264, x265)\n= {_fmt(r)} in total", fontsize=9
        )
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("bits per pixel (lower is better; no bar = n/a or not exact)", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(codecs), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------------------- run
def _environment() -> dict[str, Any]:
    from .run import environment

    env = environment()
    repo = Path(__file__).resolve().parent.parent
    env["fpcodec_path"] = str(repo)
    try:
        env["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "codec", "bitstream", "models"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        env["codec_dirty"] = bool(status.strip())
        if env["codec_dirty"]:  # what the numbers were made with, beyond the commit
            diff = subprocess.run(
                ["git", "diff", "HEAD", "--", "codec", "bitstream", "models"],
                cwd=repo,
                capture_output=True,
                timeout=10,
            ).stdout
            env["codec_diff_sha256"] = hashlib.sha256(diff).hexdigest()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        pass
    return env


def _warm_up() -> None:
    """One tiny fpcodec round trip, so that the first clip's times hold no one-off start-up."""
    from ..codec.planar_io import ColourInfo, pixel_format_by_name

    rng = np.random.default_rng(0)
    fmt = pixel_format_by_name("yuv420p")
    frames = [[rng.integers(0, 256, s, dtype=np.uint8) for s in fmt.plane_shapes(32, 32)] for _ in range(3)]
    clip = Clip(
        "warm-up", Path("-"), fmt, ColourInfo(), 32, 32, Fraction(25), Fraction(1, 25), frames, [1, 1, 1]
    )
    code_fpcodec(clip)


def run(
    corpus: Path | Sequence[Path],
    out_dir: Path,
    codecs: Sequence[str] = CODECS,
    only: Sequence[str] | None = None,
    max_frames: int | None = None,
    command: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    from tqdm import tqdm

    if isinstance(corpus, Path) and corpus.is_dir():
        manifest = json.loads((corpus / "natural_corpus.json").read_text())
        entries = [c for c in manifest["clips"] if not only or c["name"] in only]
        base = corpus
    else:  # video files given directly
        files = [Path(p) for p in ([corpus] if isinstance(corpus, (str, Path)) else corpus)]
        entries = [{"name": p.stem, "file": str(p), "split": "files"} for p in files]
        base = Path(".")
        corpus = Path(files[0]).parent
    entries.sort(key=lambda c: (c["split"] != "test", 0))  # test first, manifest order within
    commands = []
    build = corpus / "build.json"
    if build.is_file():
        commands.append(json.loads(build.read_text()).get("command", ""))
    commands.append(command or f"python -m fpcodec.bench.{PROG} {corpus} -o {out_dir}")
    report: dict[str, Any] = {
        "commands": commands,
        "environment": _environment(),
        "codecs": list(codecs),
        "settings": {
            k: (PYAV[k].settings + (f" ({PYAV[k].notes})" if PYAV[k].notes else ""))
            if k in PYAV
            else JXL_SETTINGS
            if k == "jxl"
            else "Python API as `fpcodec encode` uses it for YUV input: Encoder(pixel_format=the clip's, "
            "model='last-frame', default key frames), write_planes, close; decoded with Decoder"
            for k in codecs
        },
        "clips": [],
        "totals": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    if "fpcodec" in codecs:
        _warm_up()
    bar = tqdm(entries, desc="clips", disable=not progress)
    for entry in bar:
        bar.set_postfix_str(entry["name"])
        res = code_clip(base / entry["file"], codecs, max_frames, entry["name"], entry["split"])
        res["file"] = entry["file"]
        report["clips"].append(res)
        _finish(report, out_dir, final=False)
    return _finish(report, out_dir, final=True)


def _finish(report: dict[str, Any], out_dir: Path, final: bool) -> dict[str, Any]:
    for split in SPLITS:
        clips = [c for c in report["clips"] if c["split"] == split]
        if clips:
            report["totals"][split] = split_totals(clips, report["codecs"])
    (out_dir / "natural.json").write_text(json.dumps(report, indent=1) + "\n")
    if final:
        (out_dir / "NATURAL.md").write_text(render_markdown(report))
        plot(report, out_dir / "natural.png")
    return report


def _not_planar(paths: Sequence[Path]) -> str | None:
    """Why one of the video files cannot be compared in its own pixel format (None: all can)."""
    from ..bitstream.errors import FpcodecError
    from ..codec.planar_io import NativeReader

    for path in paths:
        try:
            reader = NativeReader(path)
        except FpcodecError as exc:
            return str(exc)
        if reader.pixel_format is None:
            return (
                f"{path}: pixel format {reader.source_pix_fmt} is not one fpcodec codes natively "
                "(YUV or gray); compare it with fpcodec bench without --native"
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m fpcodec.bench.{PROG}", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        help="a folder written by natural_corpus build, or video files (YUV/gray in any container)",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("bench/results/natural"))
    parser.add_argument("--codecs", nargs="+", default=list(CODECS), choices=CODECS)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these clips")
    parser.add_argument("--max-frames", type=int, help="only the first N frames of each clip (quick runs)")
    parser.add_argument("-q", "--quiet", action="store_true")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv_list)
    if "fpcodec" not in args.codecs:
        parser.error("--codecs must include fpcodec")
    folders = [p for p in args.inputs if p.is_dir()]
    if folders and (len(args.inputs) > 1 or not (folders[0] / "natural_corpus.json").is_file()):
        print(
            f"{PROG}: error: give one corpus folder (with natural_corpus.json, from natural_corpus "
            f"build) or video files, not {', '.join(map(str, args.inputs))}",
            file=sys.stderr,
        )
        return 1
    missing = [p for p in args.inputs if not p.exists()]
    if missing:
        print(f"{PROG}: error: {missing[0]} does not exist", file=sys.stderr)
        return 1
    if not folders:
        problem = _not_planar(args.inputs)
        if problem:
            print(f"{PROG}: error: {problem}", file=sys.stderr)
            return 1
    command = " ".join(["python", "-m", f"fpcodec.bench.{PROG}", *map(shlex.quote, argv_list)])
    if os.environ.get("PYTHONPATH"):  # e.g. a checkout of another commit: part of what was run
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    source = folders[0] if folders else list(args.inputs)
    report = run(source, args.output, args.codecs, args.only, args.max_frames, command, not args.quiet)
    if not args.quiet:
        for split in SPLITS:
            if split in report["totals"]:
                print(_verdict(report["totals"][split], split).replace("**", ""))
        print(f"wrote {args.output / 'NATURAL.md'}, natural.json, natural.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
