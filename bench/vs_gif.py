"""fpcodec's stream size against the GIF file itself, clip by clip (the palette-mode target).

    python -m fpcodec.bench.vs_gif DIR [--model NAME ...] [--webp] [--json FILE]

Prints one line per clip and model and a total; lighter than ``fpcodec bench`` (no other codecs,
no timing repeats), so it can run over a whole training split.

``--webp`` also codes each clip with animated WebP lossless (``bench.codecs.WebPCodec``, as
``fpcodec bench`` runs it: uniform frame timing, the decoded frames compared with the input pixel
for pixel, merged repeated frames expanded back) and adds a "WebP lossless" column to each line and
to the totals (over the clips WebP codes exactly). libwebp's animation encoder drops the colour of
fully transparent pixels (even with exact=True; fpcodec keeps it): such a clip, identical wherever
alpha is not 0, is "exact-visible", counted in the totals and flagged on its line. ``--json FILE``
writes the per-clip results: name, frames, pixels, GIF bytes, each model's stream bytes and encode
seconds, WebP bytes (``webp_bytes``) and WebP's status.

For the screen/graphics corpus (``bench/screen_corpus.py``)::

    python -m fpcodec.bench.vs_gif /work/screencorpus/test --webp --json screen_test.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..bitstream.errors import FpcodecError
from ..codec import encode
from ..codec.io import VideoReader
from ..models import registry

WEBP_LABEL = "WebP lossless"


def _frame_ms(durations, time_base) -> int:
    """The mean display time in ms, as ``fpcodec bench`` gives the external codecs (40 if unknown)."""
    ms = [d * time_base * 1000 for d in durations if d > 0]
    return max(1, int(round(float(sum(ms) / len(ms))))) if ms else 40


def _clear_transparent(frame: np.ndarray) -> np.ndarray:
    """The frame with the colour of fully transparent pixels set to 0 (what WebP keeps of them)."""
    if frame.shape[-1] != 4:
        return frame
    out = np.array(frame, copy=True)
    out[out[..., 3] == 0] = 0
    return out


def _webp(adapter, frames, frame_ms: int) -> dict[str, Any]:
    """One WebP lossless encode + decode, checked as ``fpcodec bench`` checks an external codec
    (uniform timing, merged repeated frames expanded back, every sample compared). libwebp's
    animation encoder drops the colour of fully transparent pixels even with exact=True: a clip
    that differs only there is "exact-visible" (counted in the totals, flagged)."""
    from fractions import Fraction

    from . import metrics

    res: dict[str, Any] = {"bytes": None, "status": "error", "exact": False, "counted": False}
    res.update(encode_seconds=None, detail="")
    try:
        started = time.perf_counter()
        data = adapter.encode(frames, [frame_ms] * len(frames), Fraction(1000, frame_ms))
        res["encode_seconds"] = time.perf_counter() - started
        res["bytes"] = len(data)
        decoded = adapter.decode(data)
        out = decoded.frames
        if len(out) != len(frames) and decoded.durations:  # merged repeated frames: expand them
            out = metrics.expand_by_duration(out, decoded.durations, frame_ms / 1000.0)
        check = metrics.compare_frames(frames, out)
        if check.exact:
            res.update(status="exact", exact=True, counted=True)
        elif metrics.compare_frames(
            [_clear_transparent(f) for f in frames], [_clear_transparent(np.asarray(f)) for f in out]
        ).exact:
            res.update(
                status="exact-visible", counted=True, detail=f"RGB under alpha 0 not kept: {check.detail}"
            )
        else:
            res.update(status="not-exact", detail=check.detail)
    except Exception as exc:
        res["detail"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return res


def _webp_text(webp: dict[str, Any], pixels: int) -> str:
    if not webp["counted"]:
        return f"{WEBP_LABEL} {webp['status'].upper()}"
    note = "; RGB under alpha 0 not kept" if webp["status"] == "exact-visible" else ""
    return f"{WEBP_LABEL} {8 * webp['bytes'] / pixels:.3f} bpp ({webp['bytes']} bytes{note})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.vs_gif",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder")
    parser.add_argument("--model", nargs="+", default=[registry.DEFAULT_MODEL])
    parser.add_argument("--webp", action="store_true", help=f"also code each clip with {WEBP_LABEL}")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the per-clip results to FILE")
    argv_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv_list)
    adapter = None
    if args.webp:
        from .codecs import WebPCodec

        adapter = WebPCodec()
        ok, why = adapter.availability()
        if not ok:
            print(f"vs_gif: error: --webp: {why}", file=sys.stderr)
            return 2
    paths = sorted(Path(args.folder).rglob("*.gif"))
    totals = {m: [0, 0, 0] for m in args.model}  # stream bytes, gif bytes, pixels
    larger: dict[str, list[str]] = {m: [] for m in args.model}
    webp_total = [0, 0, 0]  # WebP bytes, pixels, clips over the clips it codes exactly
    webp_inexact: list[str] = []
    webp_visible = 0  # clips counted although WebP dropped the colour of transparent pixels
    records: list[dict[str, Any]] = []
    for path in tqdm(paths, desc="clips", disable=not sys.stderr.isatty()):
        try:
            reader = VideoReader(path)
            frames, durations = zip(*reader.frames(), strict=True)
        except FpcodecError as exc:
            print(f"{path.relative_to(args.folder)}: skipped ({exc})", flush=True)
            records.append({"name": str(path.relative_to(args.folder)), "skipped": str(exc)})
            continue
        pixels = reader.info.width * reader.info.height * len(frames)
        gif = path.stat().st_size
        name = path.relative_to(args.folder)
        record: dict[str, Any] = {
            "name": str(name),
            "frames": len(frames),
            "width": reader.info.width,
            "height": reader.info.height,
            "pixels": pixels,
            "gif_bytes": gif,
            "models": {},
        }
        webp_col = ""
        if adapter is not None:
            webp = _webp(adapter, frames, _frame_ms(durations, reader.info.time_base))
            record["webp_bytes"] = webp["bytes"]
            record["webp"] = webp
            webp_col = f", {_webp_text(webp, pixels)}"
            if webp["counted"]:
                webp_visible += webp["status"] == "exact-visible"
                webp_total[0] += webp["bytes"]
                webp_total[1] += pixels
                webp_total[2] += 1
            else:
                webp_inexact.append(str(name))
        for model in args.model:
            started = time.perf_counter()
            size = len(
                encode(
                    frames,
                    durations=durations,
                    model=model,
                    loop=reader.info.loop,
                    time_base=reader.info.time_base,
                )
            )
            seconds = time.perf_counter() - started
            fps = len(frames) / seconds
            record["models"][model] = {"bytes": size, "encode_seconds": seconds}
            t = totals[model]
            t[0], t[1], t[2] = t[0] + size, t[1] + gif, t[2] + pixels
            if size >= gif:
                larger[model].append(str(name))
            print(
                f"{name} {model}: {len(frames)} frames, fpcodec {8 * size / pixels:.3f} bpp, "
                f"GIF {8 * gif / pixels:.3f} bpp{webp_col}, encode {fps:.1f} fps",
                flush=True,
            )
        records.append(record)
    webp_sum = ""
    if adapter is not None:
        wbytes, wpixels, wclips = webp_total
        visible = f"; RGB under alpha 0 not kept in {webp_visible} clip(s)" if webp_visible else ""
        webp_sum = f", {WEBP_LABEL} " + (
            f"{8 * wbytes / wpixels:.3f} bpp ({wbytes} bytes{visible})" if wpixels else "n/a"
        )
        if webp_inexact:
            webp_sum += f" over the {wclips} clips it codes exactly (not: {', '.join(webp_inexact)})"
    for model, (size, gif, pixels) in totals.items():
        print(
            f"TOTAL {model}: fpcodec {8 * size / pixels:.3f} bpp, GIF {8 * gif / pixels:.3f} bpp{webp_sum}, "
            f"{len(paths)} clips, not smaller than the GIF: {', '.join(larger[model]) or 'none'}"
        )
    if args.json is not None:
        report = {
            "command": " ".join(["python", "-m", "fpcodec.bench.vs_gif", *map(shlex.quote, argv_list)]),
            "folder": str(args.folder),
            "models": list(args.model),
            "webp_settings": adapter.settings if adapter is not None else None,
            "clips": records,
            "totals": {
                "models": {
                    m: {"bytes": s, "gif_bytes": g, "pixels": p, "not_smaller_than_gif": larger[m]}
                    for m, (s, g, p) in totals.items()
                },
                "webp": (
                    {
                        "bytes": webp_total[0],
                        "pixels": webp_total[1],
                        "clips_counted": webp_total[2],
                        "clips_exact_visible_only": webp_visible,
                        "not_exact": webp_inexact,
                    }
                    if adapter is not None
                    else None
                ),
            },
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
