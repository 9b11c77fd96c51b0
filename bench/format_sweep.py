"""Every pixel format and container a user may hand ``fpcodec encode``, made small and round-tripped.

    python -m fpcodec.bench.format_sweep [--out DIR]

Makes a few frames of a moving gradient in each of 52 kinds of input (videos in FFmpeg's codecs and
pixel formats: MPEG-4 in AVI, MJPEG, H.264 with B frames, 4:4:4 and 10-bit, FFV1 in yuv410p,
yuv411p, gbrp10/14, gray10/16, yuva420p, yuva444p16, yuv444p16 and more, ProRes (4444 with alpha too), UT Video, HuffYUV, lossless VP9,
Y4M, MPEG-2, a varying frame rate, odd sizes, one frame; images: PNG in gray, gray+alpha,
palette, palette with tRNS, 1-bit, 16-bit RGB(A), JPEG, BMP, TIFF, WebP, animated WebP, APNG),
encodes each with the CLI as a user does (``fpcodec.codec.cli.main``, default options), decodes the
stream, and compares it with the file as fpcodec reads it: the planes of a file coded in its own
pixel format (``planar_io.NativeReader``), else its 8-bit RGB(A) frames (``io.VideoReader``),
with their durations. One line per input: what FFmpeg decodes it to, how fpcodec coded it
(its own format, RGB planes or a model), bytes, EXACT or the difference, and the conversion
warning if any; inputs FFmpeg cannot write here are listed as not made; the exit status is 1 if
any input differs. ``--out DIR`` keeps the inputs and streams there. Takes about 8 s;
``tests/test_format_sweep.py`` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

#: (file name, codec, pix_fmt, options): videos written through PyAV.
VIDEOS = [
    ("mpeg4.avi", "mpeg4", "yuv420p", {}),
    ("mjpeg.avi", "mjpeg", "yuvj422p", {}),
    ("h264_bframes.mp4", "libx264", "yuv420p", {"bf": "3"}),
    ("h264_444.mkv", "libx264", "yuv444p", {}),
    ("h264_10bit.mkv", "libx264", "yuv420p10le", {}),
    ("ffv1_odd_size.mkv", "ffv1", "yuv420p", {}),
    ("ffv1_yuv422p.mkv", "ffv1", "yuv422p", {}),
    ("ffv1_yuv411p.mkv", "ffv1", "yuv411p", {}),
    ("ffv1_yuv410p.mkv", "ffv1", "yuv410p", {}),
    ("ffv1_yuv440p.mkv", "ffv1", "yuv440p", {}),
    ("ffv1_gray.mkv", "ffv1", "gray", {}),
    ("ffv1_gray10.mkv", "ffv1", "gray10le", {}),
    ("ffv1_gray12.mkv", "ffv1", "gray12le", {}),
    ("ffv1_gray16.mkv", "ffv1", "gray16le", {}),
    ("ffv1_yuv420p12.mkv", "ffv1", "yuv420p12le", {}),
    ("ffv1_yuv444p16.mkv", "ffv1", "yuv444p16le", {}),
    ("ffv1_yuva420p.mkv", "ffv1", "yuva420p", {}),
    ("ffv1_bgr0.mkv", "ffv1", "bgr0", {}),
    ("ffv1_bgra.mkv", "ffv1", "bgra", {}),
    ("ffv1_gbrp10.mkv", "ffv1", "gbrp10le", {}),
    ("ffv1_gbrp14.mkv", "ffv1", "gbrp14le", {}),
    ("ffv1_yuv420p9.mkv", "ffv1", "yuv420p9le", {}),
    ("ffv1_yuv440p10.mkv", "ffv1", "yuv440p10le", {}),
    ("ffv1_yuva444p16.mkv", "ffv1", "yuva444p16le", {}),
    ("ffv1_one_frame.mkv", "ffv1", "yuv420p", {}),
    ("ffv1_varying_rate.mkv", "ffv1", "yuv420p", {}),
    ("ffv1_4000x2.mkv", "ffv1", "yuv420p", {}),
    ("prores.mov", "prores_ks", "yuv422p10le", {}),
    ("prores4444_alpha.mov", "prores_ks", "yuva444p10le", {"profile": "4"}),
    ("utvideo.avi", "utvideo", "yuv420p", {}),
    ("huffyuv.avi", "huffyuv", "yuv422p", {}),
    ("vp9_lossless.webm", "libvpx-vp9", "yuv420p", {"lossless": "1"}),
    ("mpeg2.mpg", "mpeg2video", "yuv420p", {}),
    ("raw.y4m", "rawvideo", "yuv420p", {}),
]
#: Sizes other than the default 37 x 53 (height, width), and frame counts other than 6.
SIZES = {"ffv1_odd_size.mkv": (35, 49), "ffv1_4000x2.mkv": (2, 4000), "ffv1_yuv410p.mkv": (36, 52)}
COUNTS = {"ffv1_one_frame.mkv": 1, "h264_bframes.mp4": 10}


def gradient(n: int, h: int, w: int, channels: int = 3) -> list[np.ndarray]:
    """``n`` frames of a gradient that moves (many colours), with a varying alpha as a 4th channel."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for t in range(n):
        planes = [
            (xx * 3 + yy + 5 * t) % 256,
            (yy * 2 + 3 * t) % 256,
            (xx + yy * t) % 256,
            (xx * 7 + yy) % 256,
        ]
        out.append(np.dstack(planes[:channels]).astype(np.uint8))
    return out


def make_video(path: Path, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
    import av

    h, w = SIZES.get(path.name, (36, 50))
    n = COUNTS.get(path.name, 6)
    varying = "varying_rate" in path.name
    with av.open(str(path), "w", format="yuv4mpegpipe" if path.suffix == ".y4m" else None) as cont:
        stream = cont.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if varying:
            stream.time_base = Fraction(1, 25)
        for i, f in enumerate(gradient(n, h, w, 4)):
            frame = av.VideoFrame.from_ndarray(f, format="rgba").reformat(format=pix_fmt, threads=1)
            frame.pts = [0, 1, 5, 6, 20, 21][i] if varying else i
            if varying:
                frame.time_base = Fraction(1, 25)
            for pkt in stream.encode(frame):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)


def make_png16(path: Path, pix_fmt: str) -> None:
    """A 16-bit PNG through FFmpeg's encoder (Pillow writes no 16-bit RGB)."""
    import av

    f = gradient(1, 37, 53, 4)[0].astype(np.uint16) * 257 + 3
    with av.open(str(path), "w", format="image2") as cont:
        stream = cont.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 53, 37, pix_fmt
        frame = av.VideoFrame.from_ndarray(f, format="rgba64le").reformat(format=pix_fmt, threads=1)
        for pkt in stream.encode(frame):
            cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)


def make_images(folder: Path) -> list[str]:
    """Still and animated images through Pillow (and FFmpeg for 16 bits); returns their names."""
    from PIL import Image

    rgba = gradient(4, 37, 53, 4)
    rgb = [f[..., :3] for f in rgba]
    first = Image.fromarray(rgb[0])
    made = {
        "gray.png": lambda p: Image.fromarray(rgb[0][..., 0]).save(p),
        "gray_alpha.png": lambda p: Image.fromarray(rgba[0][..., [0, 3]], "LA").save(p),
        "rgb.png": lambda p: first.save(p),
        "rgba.png": lambda p: Image.fromarray(rgba[0]).save(p),
        "palette.png": lambda p: first.convert("P", palette=Image.ADAPTIVE, colors=200).save(p),
        "palette_trns.png": lambda p: first.convert("P", palette=Image.ADAPTIVE, colors=50).save(
            p, transparency=3
        ),
        "mono.png": lambda p: Image.fromarray(rgb[0][..., 0] > 128).save(p),
        "rgb48.png": lambda p: make_png16(p, "rgb48be"),
        "rgba64.png": lambda p: make_png16(p, "rgba64be"),
        "gray16.png": lambda p: make_png16(p, "gray16be"),
        "gray_alpha16.png": lambda p: make_png16(p, "ya16be"),
        "rgb.jpg": lambda p: first.save(p, quality=90),
        "gray.jpg": lambda p: Image.fromarray(rgb[0][..., 0]).save(p, quality=90),
        "rgb.bmp": lambda p: first.save(p),
        "rgb.tiff": lambda p: first.save(p),
        "rgba.webp": lambda p: Image.fromarray(rgba[0]).save(p, lossless=True),
        "animated.webp": lambda p: first.save(
            p, save_all=True, append_images=[Image.fromarray(f) for f in rgb[1:]], lossless=True, duration=80
        ),
        "animated.apng": lambda p: first.save(
            p, save_all=True, append_images=[Image.fromarray(f) for f in rgb[1:]], duration=[40, 80, 120, 40]
        ),
    }
    for name, make in made.items():
        make(folder / name)
    return list(made)


def round_trip(path: Path, work: Path) -> str:
    """One input's line: encoded by the CLI, decoded, compared as fpcodec reads the file."""
    from fpcodec.codec import planar_io
    from fpcodec.codec.cli import main
    from fpcodec.codec.io import VideoReader
    from fpcodec.codec.pipeline import Decoder

    import av

    with av.open(str(path)) as cont:
        source = cont.streams.video[0].codec_context.pix_fmt
    stream = work / (path.name + ".fpc")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(["encode", str(path), "-o", str(stream), "-y", "-q"])
    said = " ".join(
        line.split(": ", 3)[-1] for line in err.getvalue().splitlines()
    )  # less "fpcodec: warning: path: "
    if code != 0:
        return f"{path.name:24s} {source or '?':12s} refused: {said}"
    with open(stream, "rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dec = Decoder(fh)
        got = list(dec.frames())
        kind = (
            dec.pixel_format.name
            if dec.pixel_format
            else "RGB planes"
            if dec.plane_format
            else dec.model_name
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dec.pixel_format is not None:
            want = list(planar_io.NativeReader(path).frames())
            same = [
                all(np.array_equal(a, b) for a, b in zip(g.planes, w, strict=True))
                for g, (w, _) in zip(got, want, strict=False)
            ]
        else:
            want = list(VideoReader(path).frames())
            same = [np.array_equal(g.pixels, w) for g, (w, _) in zip(got, want, strict=False)]
    exact = len(got) == len(want) and all(same)
    timed = [g.duration for g in got] == [int(d) for _, d in want]
    verdict = (
        "EXACT"
        if exact and timed
        else f"DIFFERS ({len(got)}/{len(want)} frames, {sum(same)} equal, durations {'same' if timed else 'differ'})"
    )
    note = f"  [{said}]" if said else ""
    return f"{path.name:24s} {source or '?':12s} {kind:26s} {stream.stat().st_size:7d} B  {verdict}{note}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.format_sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the inputs and streams (default: a temp one)"
    )
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        folder = args.out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fpcodec-sweep-")))
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for name, codec, pix_fmt, options in VIDEOS:
            try:
                make_video(folder / name, codec, pix_fmt, options)
                names.append(name)
            except Exception as exc:  # FFmpeg built without that encoder or format here
                print(f"{name:24s} not made ({type(exc).__name__}: {str(exc)[:80]})")
        names += make_images(folder)
        work = folder / "streams"
        work.mkdir(exist_ok=True)
        lines = [round_trip(folder / name, work) for name in names]
    print("\n".join(lines))
    bad = [line for line in lines if "EXACT" not in line]
    print(f"{len(lines) - len(bad)} of {len(lines)} inputs exact as fpcodec reads them")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
