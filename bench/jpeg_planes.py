"""Motion JPEG coded as JPEG levels (format version 19, kind 4) against the same frames coded as
samples, and against the MJPEG file itself.

``python -m fpcodec.bench.jpeg_planes /tmp/natcorpus/dev/*.mkv -o bench/results/jpeg_planes``

Every source clip (the natural corpus' dev split: ``bench/natural_corpus.py``) is made Motion JPEG
in several ways, as cameras and tools make it: FFmpeg's encoder at fixed qscales (yuvj422p, the
DC step 8 whatever the qscale) and libjpeg (Pillow) at qualities 50, 75 and 90 in 4:2:0 and
4:2:2, muxed as MJPEG in AVI. Each is decoded by FFmpeg (PyAV) as ``fpcodec encode`` reads it and
coded in-process twice: as it is now, and with ``planar_coding.without_tools("jpeg_levels")`` (the
version-18 encoder's choices); each stream is decoded and compared sample for sample with the
MJPEG's frames. Reported: bytes, bits per pixel, the share of frames coded as JPEG levels,
the ratios to the samples' stream and to the MJPEG file, and the in-process encoding and
decoding frames/s (one run each: a sizing, not a timing benchmark).
"""

from __future__ import annotations

import argparse
import io
import json
import struct
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..codec import planar_coding, planar_io
from ..codec.modes import planar
from ..codec.modes.base import MODE_PLANAR
from ..codec.pipeline import Decoder
from . import natural

#: (name, maker, argument): FFmpeg's qscale, or libjpeg's (quality, subsampling: 2 = 4:2:0, 1 = 4:2:2).
VARIANTS = (
    [(f"ffmpeg q{q}", "ffmpeg", q) for q in (2, 4, 8, 16)]
    + [(f"libjpeg Q{q} 4:2:0", "libjpeg", (q, 2)) for q in (50, 75, 90)]
    + [(f"libjpeg Q{q} 4:2:2", "libjpeg", (q, 1)) for q in (50, 75, 90)]
)


def _rgb_frames(path: Path, frames: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        out = []
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24", threads=1))
            if len(out) == frames:
                break
        return out


def _mjpeg(rgbs: list[np.ndarray], maker: str, arg) -> bytes:
    """An MJPEG AVI of the frames, by FFmpeg's encoder or libjpeg."""
    buf = io.BytesIO()
    out = av.open(buf, "w", format="avi")
    stream = out.add_stream("mjpeg", rate=25)
    stream.height, stream.width = rgbs[0].shape[:2]
    stream.pix_fmt = "yuvj422p" if maker == "ffmpeg" else "yuvj420p"
    if maker == "ffmpeg":
        ctx = stream.codec_context
        ctx.qmin = ctx.qmax = arg
        ctx.flags |= av.codec.context.Flags.qscale
        ctx.global_quality = arg * 118  # FF_QP2LAMBDA
    for i, rgb in enumerate(rgbs):
        if maker == "ffmpeg":
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj422p", threads=1)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        else:
            jpeg = io.BytesIO()
            Image.fromarray(rgb).save(jpeg, "JPEG", quality=arg[0], subsampling=arg[1])
            packet = av.Packet(jpeg.getvalue())
            packet.pts = packet.dts = i
            packet.stream = stream
            out.mux(packet)
    if maker == "ffmpeg":
        for packet in stream.encode():
            out.mux(packet)
    out.close()
    return buf.getvalue()


def _jpeg_share(stream: bytes) -> float:
    records = [r for r in Decoder(io.BytesIO(stream), load_model=False).records()]
    kinds = [struct.unpack_from("<I", r.payload)[0] if r.mode == MODE_PLANAR else -1 for r in records]
    return kinds.count(planar.KIND_JPEG) / len(kinds)


def run(sources: list[Path], frames: int, work: Path) -> list[dict]:
    rows = []
    jobs = [(s, v) for s in sources for v in VARIANTS]
    for source, (name, maker, arg) in tqdm(jobs, desc="jpeg_planes", unit="clip"):
        rgbs = _rgb_frames(source, frames)
        path = work / f"{source.stem}_{name.replace(' ', '_').replace(':', '')}.avi"
        path.write_bytes(_mjpeg(rgbs, maker, arg))
        _, frames = planar_io.read_planes(path)
        levels, enc_s = natural.encode_file(path)
        dec_s = natural.decode_exactly(levels, frames)
        with planar_coding.without_tools("jpeg_levels"):
            samples, _ = natural.encode_file(path)
        natural.decode_exactly(samples, frames)
        height, width = rgbs[0].shape[:2]
        pixels = width * height * len(rgbs)
        rows.append(
            {
                "source": source.stem,
                "variant": name,
                "size": f"{width}x{height}",
                "frames": len(rgbs),
                "mjpeg_bytes": path.stat().st_size,
                "levels_bytes": len(levels),
                "samples_bytes": len(samples),
                "jpeg_share": _jpeg_share(levels),
                "levels_bpp": 8 * len(levels) / pixels,
                "samples_bpp": 8 * len(samples) / pixels,
                "encode_fps": len(rgbs) / enc_s,
                "decode_fps": len(rgbs) / dec_s,
            }
        )
    return rows


def report(rows: list[dict], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "jpeg_planes.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "# Motion JPEG coded as JPEG levels (format version 19)",
        "",
        f"Command: `{command}`. Every stream decoded and compared sample for sample with FFmpeg's",
        "decoding of the MJPEG file. 'samples': the same encoder without JPEG levels (version 18's",
        "choices). fps: in-process, one run (with JPEG levels). The JPEG levels' initial counts",
        "(`models/weights/jpeg-priors.safetensors`) were trained on these very clips, so these",
        "figures are in-sample (what the priors win on a source left out of their training, 12.1 %",
        "against untrained counts, is in `models/TRAINING.md`); the held-out sources' MJPEG clips",
        "are in `bench/results/natural`.",
        "",
        "| source | variant | size x frames | MJPEG bytes | fpcodec bytes | samples bytes | JPEG frames | bits/pixel | vs samples | vs MJPEG | enc fps | dec fps |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['source']} | {r['variant']} | {r['size']} x {r['frames']} | {r['mjpeg_bytes']:,} | "
            f"{r['levels_bytes']:,} | {r['samples_bytes']:,} | {100 * r['jpeg_share']:.0f} % | "
            f"{r['levels_bpp']:.3f} | {r['levels_bytes'] / r['samples_bytes']:.3f} | "
            f"{r['levels_bytes'] / r['mjpeg_bytes']:.3f} | {r['encode_fps']:.1f} | {r['decode_fps']:.1f} |"
        )
    tot = {k: sum(r[k] for r in rows) for k in ("mjpeg_bytes", "levels_bytes", "samples_bytes")}
    lines += [
        "",
        f"**Total: {tot['levels_bytes']:,} bytes with JPEG levels, {tot['samples_bytes']:,} as samples "
        f"({tot['levels_bytes'] / tot['samples_bytes']:.3f}), the MJPEG files {tot['mjpeg_bytes']:,} "
        f"({tot['levels_bytes'] / tot['mjpeg_bytes']:.3f}).**",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jpeg_planes", description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="video files (the dev split's clips)")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=12, help="frames of each source (default 12)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fpcodec_jpeg_planes"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = run(args.sources, args.frames, args.work)
    command = (
        "python -m fpcodec.bench.jpeg_planes " + " ".join(str(s) for s in args.sources) + f" -o {args.out}"
    )
    report(rows, args.out, command)
    print((args.out / "README.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
