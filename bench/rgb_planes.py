"""RGB sources coded as planes (format version 16) against the RGB modes and other lossless codecs.

    python -m fpcodec.bench.rgb_planes NATURAL_CORPUS_SPLIT [...] [--stills] [--alpha] [--json FILE] [-q]

Each clip (a video file; the natural corpus's splits hold Matroska files) is read as RGB24 frames
(FFmpeg's conversion: an RGB source, which is what an APNG, a PNG sequence or a screen capture
gives fpcodec); ``--stills`` adds scikit-image's colour photographs (``skimage.data``: astronaut,
chelsea, coffee, rocket) as one-frame clips. ``--alpha`` gives every clip an alpha channel, a
soft-edged disc (opaque inside, transparent outside, a ramp between) that moves one pixel a frame:
a synthetic RGBA source (the corpora hold none), for the RGBA planes (pixel format 14). Every clip
is coded by

- fpcodec's RGB modes with the default learned model and with ``last-frame`` (what ``fpcodec
  encode -m MODEL`` does with an RGB source),
- fpcodec's planes (``codec/rgb_planes.py``: what ``fpcodec encode`` does by default with an RGB
  source of more than 256 colours),
- FFV1, x264 (libx264rgb), WebP lossless, APNG and JPEG XL (``bench.codecs``, as ``fpcodec bench``
  runs them),

every result decoded and compared with the frames pixel for pixel (a codec that does not give them
back is listed as NOT EXACT and left out of the totals). Prints a Markdown table per clip, the
totals, and the planes' size against each other coder's; ``--json`` keeps the bytes and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

STILLS = ("astronaut", "chelsea", "coffee", "rocket")
_EXTERNAL = ("ffv1", "x264", "webp", "apng", "jxl")
_VIDEO = (".mkv", ".mp4", ".avi", ".y4m", ".webm", ".mov", ".apng", ".png", ".gif", ".webp")


def clip_frames(path: Path) -> list[np.ndarray]:
    """A video's frames as RGB24 (FFmpeg's conversion)."""
    import av

    with av.open(str(path)) as cont:
        return [f.to_ndarray(format="rgb24", threads=1) for f in cont.decode(video=0)]


def still_frames(name: str) -> list[np.ndarray]:
    import skimage.data

    return [np.ascontiguousarray(getattr(skimage.data, name)()[:, :, :3])]


def with_alpha(frames: list[np.ndarray]) -> list[np.ndarray]:
    """``--alpha``: each frame with a soft-edged disc of alpha that moves one pixel a frame."""
    h, w = frames[0].shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for t, f in enumerate(frames):
        r = np.hypot(y - h / 2, x - w / 2 - t)
        alpha = np.clip((0.4 * min(h, w) - r) * 16, 0, 255).astype(np.uint8)
        out.append(np.dstack([f, alpha]))
    return out


def _fpcodec(frames: list[np.ndarray], model: str | None) -> tuple[bytes, float, float]:
    """(stream, encode s, decode s) of the RGB modes with ``model``, or the planes (None)."""
    from fpcodec.codec.pipeline import decode, encode

    started = time.perf_counter()
    durations = [4] * len(frames)
    if model is None:
        data = encode(frames, durations=durations, planes=True)
    else:
        data = encode(frames, durations=durations, model=model)
    coded = time.perf_counter()
    got = decode(data).frames
    done = time.perf_counter()
    if len(got) != len(frames) or not all(np.array_equal(a, b) for a, b in zip(got, frames, strict=True)):
        raise AssertionError(f"fpcodec ({model or 'planes'}) did not give the frames back")
    return data, coded - started, done - coded


def measure(name: str, frames: list[np.ndarray], adapters) -> dict:
    from fpcodec.models import registry

    row: dict = {
        "clip": name,
        "frames": len(frames),
        "width": frames[0].shape[1],
        "height": frames[0].shape[0],
    }
    for label, model in (
        ("rgb_default", registry.DEFAULT_MODEL),
        ("rgb_last_frame", "last-frame"),
        ("planes", None),
    ):
        data, enc_s, dec_s = _fpcodec(frames, model)
        row[label] = {"bytes": len(data), "encode_s": enc_s, "decode_s": dec_s}
    for a in adapters:
        if frames[0].shape[2] == 4 and not a.supports_alpha:
            row[a.name] = {"status": "no alpha"}
            continue
        started = time.perf_counter()
        try:
            data = a.encode(frames, [40] * len(frames), Fraction(25))
            got = a.decode(data).frames
        except Exception as exc:  # noqa: BLE001 - a codec's failure is a result, not a crash
            row[a.name] = {"status": f"failed: {exc}"}
            continue
        exact = len(got) == len(frames) and all(_same(x, y) for x, y in zip(got, frames, strict=True))
        row[a.name] = {
            "bytes": len(data),
            "seconds": time.perf_counter() - started,
            "status": "exact" if exact else "NOT EXACT",
        }
    return row


def _same(decoded, frame: np.ndarray) -> bool:
    """A decoded frame equals ``frame`` (an RGBA decoding of an RGB frame: its colour channels)."""
    got = np.asarray(decoded)
    if frame.shape[2] == 3 and got.ndim == 3 and got.shape[2] == 4:
        got = got[:, :, :3]
    return got.shape == frame.shape and np.array_equal(got, frame)


def _columns(rows: list[dict]) -> list[str]:
    return ["rgb_default", "rgb_last_frame", "planes", *[k for k in _EXTERNAL if k in rows[0]]]


def report(rows: list[dict], title: str) -> str:
    """A Markdown table of bits per pixel per clip and coder, the totals, and the planes' ratios."""
    cols = _columns(rows)
    names = {
        "rgb_default": "RGB modes (default model)",
        "rgb_last_frame": "RGB modes (last-frame)",
        "planes": "planes",
    }
    lines = [
        f"### {title}",
        "",
        "| clip | size x frames | " + " | ".join(names.get(c, c) for c in cols) + " |",
    ]
    lines.append("|---|---|" + "---:|" * len(cols))
    exact = {c: sum(r[c].get("status", "exact") == "exact" for r in rows) for c in cols}
    # Totals over the clips that every coder exact on most clips gives back exactly.
    counted = [c for c in cols if 2 * exact[c] > len(rows)]
    kept = [r for r in rows if all(r[c].get("status", "exact") == "exact" for c in counted)]
    pixels = sum(r["width"] * r["height"] * r["frames"] for r in kept)
    totals = {c: sum(r[c]["bytes"] for r in kept) for c in counted}
    for r in rows:
        px = r["width"] * r["height"] * r["frames"]
        cells = [
            f"{8 * r[c]['bytes'] / px:.3f}" if r[c].get("status", "exact") == "exact" else r[c]["status"][:40]
            for c in cols
        ]
        lines.append(
            f"| {r['clip']} | {r['width']}x{r['height']} x {r['frames']} | " + " | ".join(cells) + " |"
        )
    cells = [f"**{8 * totals[c] / max(pixels, 1):.3f}**" if c in totals else "n/a" for c in cols]
    lines.append(
        f"| **total** ({len(kept)} clips exact in every counted coder) | | " + " | ".join(cells) + " |"
    )
    ratios = ", ".join(
        f"{names.get(c, c)} {totals['planes'] / totals[c]:.3f}"
        for c in counted
        if c != "planes" and totals[c]
    )
    lines += ["", f"Bits per pixel, lower is better. Planes' total / each coder's total: {ratios}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of video clips (one source each)")
    parser.add_argument("--stills", action="store_true", help="add scikit-image's colour photographs")
    parser.add_argument("--alpha", action="store_true", help="give every clip a synthetic alpha channel")
    parser.add_argument(
        "--codecs", nargs="*", default=list(_EXTERNAL), help="external codecs (bench.codecs names)"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from fpcodec.bench.codecs import get_adapters

    adapters = [a for a in get_adapters(args.codecs) if a.availability()[0]]
    groups: list[tuple[str, list[tuple[str, object]]]] = []
    for folder in args.folders:
        clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in _VIDEO)
        groups.append((str(folder), [(p.stem, p) for p in clips]))
    if args.stills:
        groups.append(("scikit-image stills", [(n, n) for n in STILLS]))
    results = {}
    out = []
    for title, clips in groups:
        rows = []
        for name, src in tqdm(clips, desc=Path(title).name, disable=args.quiet, file=sys.stderr):
            frames = still_frames(src) if isinstance(src, str) else clip_frames(src)
            if args.alpha:
                frames = with_alpha(frames)
            rows.append(measure(name, frames, adapters))
        title += " (synthetic alpha)" if args.alpha else ""
        results[title] = rows
        if rows:
            out.append(report(rows, title))
    print("\n".join(out))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
