"""JPEG stills, as cameras and tools leave them, coded as JPEG levels (kind 4) against the JPEG file.

``python -m fpcodec.bench.jpeg_stills /tmp/natcorpus/dev/*.mkv -o bench/results/jpeg_stills``
``[--pythonpath OLD_TREE] [--label NAME]``

One frame of each source clip (the natural corpus' dev split, ``bench/natural_corpus.py``) is
scaled to several sizes, most of them not multiples of 16 (so every plane of a 4:2:0 image has
partial blocks at its right and bottom edges), and saved by libjpeg (Pillow) at qualities 75
(4:2:0), 85 (4:2:2) and 90 (4:4:4, progressive). Each still is coded by ``fpcodec encode`` in a
child process (``--pythonpath``: another checkout's ``fpcodec``, for an A/B), decoded by this
tree and compared sample for sample with FFmpeg's decoding of the JPEG; reported: the JPEG's
bytes, the stream's, their ratio, and whether the frame was coded as JPEG levels.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tqdm import tqdm

from ..codec.modes import planar
from ..codec.modes.base import MODE_PLANAR
from ..codec.pipeline import Decoder

#: Still sizes (width, height): four odd ones and one of whole 16x16 blocks.
SIZES = ((175, 143), (250, 187), (333, 251), (400, 300), (640, 272))
#: libjpeg settings: (quality, subsampling: 2 = 4:2:0, 1 = 4:2:2, 0 = 4:4:4, progressive).
SETTINGS = ((75, 2, False), (85, 1, False), (90, 0, True))


def make_stills(source: Path, work: Path, frame: int = 3) -> list[Path]:
    """The stills of one source clip (its ``frame``-th frame) in ``work``."""
    with av.open(str(source)) as container:
        for k, f in enumerate(container.decode(video=0)):
            if k == frame:
                rgb = f.to_ndarray(format="rgb24", threads=1)
                break
    paths = []
    for width, height in SIZES:
        image = Image.fromarray(rgb).resize((width, height), Image.BICUBIC)
        for quality, subsampling, progressive in SETTINGS:
            path = (
                work
                / f"{source.stem}_{width}x{height}_q{quality}_s{subsampling}{'p' if progressive else ''}.jpg"
            )
            image.save(path, quality=quality, subsampling=subsampling, progressive=progressive)
            paths.append(path)
    return paths


def _planes(path: Path) -> list[list[np.ndarray]]:
    with av.open(str(path)) as container:
        return [
            [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy() for p in f.planes]
            for f in container.decode(video=0)
        ]


def code(still: Path, out: Path, pythonpath: str | None) -> dict:
    """``fpcodec encode`` of the still (in a child process), checked against FFmpeg's decoding."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, "-m", "fpcodec.codec.cli", "encode", str(still), "-o", str(out), "-y", "-q"]
    subprocess.run(cmd, env=env, check=True)
    data = out.read_bytes()
    decoded = [f.planes for f in Decoder(io.BytesIO(data)).frames()]
    for got, want in zip(decoded, _planes(still), strict=True):
        for a, b in zip(got, want, strict=True):
            if not np.array_equal(a, b):
                raise SystemExit(f"{still}: decoded samples differ from FFmpeg's decoding of the JPEG")
    (record,) = [r for r in Decoder(io.BytesIO(data), load_model=False).records()]
    kind = struct.unpack_from("<I", record.payload)[0] & 0xFF if record.mode == MODE_PLANAR else -1
    return {"jpeg_bytes": still.stat().st_size, "bytes": len(data), "levels": kind == planar.KIND_JPEG}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jpeg_stills", description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=Path, help="video files (the dev split's clips)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the JSON and table")
    parser.add_argument("--pythonpath", help="PYTHONPATH of the fpcodec that encodes (an A/B)")
    parser.add_argument("--label", default="this tree", help="the encoder's name in the report")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fpcodec_jpeg_stills"))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stills = [p for s in args.sources for p in make_stills(s, args.work)]
    rows = {}
    for still in tqdm(stills, desc="jpeg_stills", unit="still"):
        rows[still.name] = code(still, args.work / "still.fpc", args.pythonpath)
    name = args.label.replace(" ", "_")
    (args.out / f"jpeg_stills_{name}.json").write_text(json.dumps(rows, indent=1))
    jpeg = sum(r["jpeg_bytes"] for r in rows.values())
    coded = sum(r["bytes"] for r in rows.values())
    lines = [
        f"| still ({args.label}) | JPEG bytes | fpcodec bytes | / JPEG | JPEG levels |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {k} | {r['jpeg_bytes']:,} | {r['bytes']:,} | {r['bytes'] / r['jpeg_bytes']:.3f} | "
            f"{'yes' if r['levels'] else 'no'} |"
            for k, r in rows.items()
        ),
        f"| **all {len(rows)}** | **{jpeg:,}** | **{coded:,}** | **{coded / jpeg:.3f}** | "
        f"{sum(r['levels'] for r in rows.values())} of {len(rows)} |",
    ]
    (args.out / f"jpeg_stills_{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
