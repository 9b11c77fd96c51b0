"""Video that MPEG-1/2 or MPEG-4 part 2 made, coded with the references read by its own
interpolation (format version 20, ``motion.INTERPOLATIONS``) against H.264's rule only, and
against x264 and FFV1 lossless on the same frames.

``python -m fpcodec.bench.mpeg_interpolation /tmp/natcorpus/dev/*.mkv -o bench/results/mpeg_interpolation``

Every source clip (the natural corpus' dev split: ``bench/natural_corpus.py``) is coded by
FFmpeg's MPEG-1, MPEG-2 and MPEG-4 part 2 encoders (MPEG-4 also with four vectors a macroblock,
as Xvid and DivX code), at fixed qscales 3 and 6, without and with B frames (two between the P
frames; GOP 12), muxed in AVI, as old camcorders, DVDs and the AVI files of the 2000s hold them.
Each file is decoded by FFmpeg (PyAV) as ``fpcodec encode`` reads it and coded in-process twice:
as it is now, and with ``planar_coding.without_tools("interpolations")`` (the version-19
encoder's choices); each stream is decoded and compared sample for sample with the file's
frames; x264 (qp 0) and FFV1 code the same frames (``bench.natural``'s settings, verified exact).
Reported: bytes, bits per pixel, the inter frames that took each rule, the ratios, and the
in-process encoding frames/s (one run each: a sizing, not a timing benchmark).
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import struct
from pathlib import Path

import av
from tqdm import tqdm

from ..codec import motion, planar_coding
from ..codec.modes import planar
from ..codec.modes.base import MODE_PLANAR
from ..codec.pipeline import Decoder
from . import natural

#: (name, FFmpeg encoder, qscale, B frames between P frames, four vectors a macroblock).
VARIANTS = [
    (f"{label} q{q}{' B' if bf else ''}{' 4mv' if mv4 else ''}", codec, q, bf, mv4)
    for label, codec, mv4 in (
        ("mpeg1", "mpeg1video", False),
        ("mpeg2", "mpeg2video", False),
        ("mpeg4", "mpeg4", False),
        ("mpeg4", "mpeg4", True),
    )
    for q in (3, 6)
    for bf in (0, 2)
]
RULE_NAMES = {
    motion.H264: "h264",
    motion.MPEG12: "mpeg12",
    motion.MPEG4: "mpeg4",
    motion.MPEG4_DOWN: "mpeg4down",
}


def _mpeg(source: Path, codec: str, qscale: int, b_frames: int, mv4: bool, frames: int) -> bytes:
    """An AVI of the source's first ``frames`` frames (yuv420p) by FFmpeg's ``codec``."""
    with av.open(str(source)) as container:
        pictures = []
        for frame in container.decode(video=0):
            # a new frame: a decoded one's picture type and time base would steer the encoder
            pictures.append(
                av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p", threads=1), format="yuv420p")
            )
            if len(pictures) == frames:
                break
    buf = io.BytesIO()
    out = av.open(buf, "w", format="avi")
    stream = out.add_stream(codec, rate=25)
    stream.height, stream.width = pictures[0].height, pictures[0].width
    stream.pix_fmt = "yuv420p"
    ctx = stream.codec_context
    ctx.qmin = ctx.qmax = qscale
    ctx.flags |= av.codec.context.Flags.qscale
    ctx.global_quality = qscale * 118  # FF_QP2LAMBDA
    ctx.gop_size = 12
    ctx.max_b_frames = b_frames
    if mv4:
        ctx.flags |= av.codec.context.Flags.four_mv
    for i, picture in enumerate(pictures):
        picture.pts = i
        for packet in stream.encode(picture):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return buf.getvalue()


def _rules(stream: bytes) -> dict[str, int]:
    """How many inter frames of the stream took each interpolation rule."""
    counts: collections.Counter[str] = collections.Counter()
    for r in Decoder(io.BytesIO(stream), load_model=False).records():
        if r.mode != MODE_PLANAR:
            continue
        (word,) = struct.unpack_from("<I", r.payload)
        if word & 0xFF in (planar.KIND_INTER, planar.KIND_RASTER_INTER):
            counts[RULE_NAMES[word >> planar.INTERPOLATION_SHIFT & 3]] += 1
    return dict(counts)


def run(sources: list[Path], frames: int, work: Path) -> list[dict]:
    rows = []
    jobs = [(s, v) for s in sources for v in VARIANTS]
    for source, (name, codec, qscale, b_frames, mv4) in tqdm(jobs, desc="mpeg_interpolation", unit="clip"):
        path = work / f"{source.stem}_{name.replace(' ', '_')}.avi"
        path.write_bytes(_mpeg(source, codec, qscale, b_frames, mv4, frames))
        clip = natural.load_clip(path)
        rules, enc_s = natural.encode_file(path)
        natural.decode_exactly(rules, clip.frames)
        with planar_coding.without_tools("interpolations"):
            h264, _ = natural.encode_file(path)
        natural.decode_exactly(h264, clip.frames)
        baselines = {c: natural.code_pyav(c, clip) for c in ("x264", "ffv1")}
        for c, res in baselines.items():
            assert res.get("exact"), f"{c} not exact on {path}: {res.get('reason')}"
        rows.append(
            {
                "source": source.stem,
                "variant": name,
                "size": f"{clip.width}x{clip.height}",
                "frames": len(clip.frames),
                "file_bytes": path.stat().st_size,
                "bytes": len(rules),
                "h264_bytes": len(h264),
                "x264_bytes": baselines["x264"]["bytes"],
                "ffv1_bytes": baselines["ffv1"]["bytes"],
                "rules": _rules(rules),
                "bpp": 8 * len(rules) / clip.pixels,
                "encode_fps": len(clip.frames) / enc_s,
            }
        )
    return rows


def report(rows: list[dict], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "mpeg_interpolation.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "# MPEG-made video read by its own interpolation (format version 20)",
        "",
        f"Command: `{command}`. Every stream decoded and compared sample for sample with FFmpeg's",
        "decoding of the file; x264 (qp 0, veryslow) and FFV1 (bench.natural's settings) on the same",
        "frames, verified exact. 'H.264 rule': the same encoder without the MPEG rules (version 19's",
        "choices). Rules: the inter frames that took each (h264, mpeg12, mpeg4, mpeg4down). enc fps:",
        "in-process, one run. The dev split's sources; none of the held-out ones.",
        "",
        "| source | variant | size x frames | file bytes | fpcodec bytes | H.264 rule bytes | x264 bytes | FFV1 bytes | bits/pixel | vs H.264 rule | vs x264 | rules | enc fps |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        rules = " ".join(f"{k} {v}" for k, v in sorted(r["rules"].items()))
        lines.append(
            f"| {r['source']} | {r['variant']} | {r['size']} x {r['frames']} | {r['file_bytes']:,} | "
            f"{r['bytes']:,} | {r['h264_bytes']:,} | {r['x264_bytes']:,} | {r['ffv1_bytes']:,} | "
            f"{r['bpp']:.3f} | {r['bytes'] / r['h264_bytes']:.3f} | {r['bytes'] / r['x264_bytes']:.3f} | "
            f"{rules} | {r['encode_fps']:.1f} |"
        )
    keys = ("bytes", "h264_bytes", "x264_bytes", "ffv1_bytes")
    lines += [
        "",
        "| variants | fpcodec | H.264 rule | x264 | FFV1 | vs H.264 rule | vs x264 | vs FFV1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {"all": rows}
    for label in ("mpeg1", "mpeg2", "mpeg4"):
        groups[label] = [r for r in rows if r["variant"].startswith(label)]
    groups["without B frames"] = [r for r in rows if " B" not in r["variant"]]
    groups["with B frames"] = [r for r in rows if " B" in r["variant"]]
    for label, part in groups.items():
        if not part:  # no variant of the run is in this group
            continue
        t = {k: sum(r[k] for r in part) for k in keys}
        lines.append(
            f"| {label} ({len(part)}) | {t['bytes']:,} | {t['h264_bytes']:,} | {t['x264_bytes']:,} | "
            f"{t['ffv1_bytes']:,} | {t['bytes'] / t['h264_bytes']:.3f} | {t['bytes'] / t['x264_bytes']:.3f} | "
            f"{t['bytes'] / t['ffv1_bytes']:.3f} |"
        )
    lines.append("")
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpeg_interpolation", description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="video files (the dev split's clips)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=24, help="frames of each source (default 24)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fpcodec_mpeg_interpolation"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = run(args.sources, args.frames, args.work)
    command = (
        "python -m fpcodec.bench.mpeg_interpolation "
        + " ".join(str(s) for s in args.sources)
        + f" -o {args.out}"
    )
    report(rows, args.out, command)
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
