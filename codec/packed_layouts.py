"""Packed and semi-planar frames read as the planar format of the same samples.

Raw captures (webcams, capture cards, rawvideo in AVI, MOV, NUT or Matroska) hold YUV as nv12 (a
luma plane and one of interleaved chroma pairs), yuyv422 (two luma samples and a chroma pair in
four bytes) and their kin; 16-bit PNGs and TIFFs decode as packed rgb48be, rgba64be or ya16be.
Their samples are those of a planar format, laid out otherwise: nv12's are yuv420p's, y210le's (10
bits at the top of 16-bit words) yuv422p16le's, word for word, rgb48be's gbrp16le's (green, blue,
red). So they are coded natively as that planar format (FFmpeg likewise converts them, without
loss, for FFV1), and the stream, and what ``fpcodec decode`` writes, hold the planar format: every
sample, not the interleaving. Layouts as FFmpeg's ``libavutil/pixdesc.c`` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream.errors import InputError
from .io import plane_view


@dataclass(frozen=True)
class Layout:
    """Where a format keeps its samples, per plane of the planar format: ``samples[k]`` lists
    plane k's positions. Packed: plane 0 alone, in groups of ``group`` pixels of ``step`` words;
    a plane with ``group`` positions has a sample per pixel, one with a single position one per
    group (its chroma). Semi-planar (``pairs``): the luma is plane 0 and the chroma pairs plane 1,
    ``samples`` giving the position in a pair of each plane after the first."""

    planar: str  # FFmpeg's name of the planar format of the same samples
    word: str  # numpy dtype of a sample: "u1", "<u2", ">u2"
    samples: tuple[tuple[int, ...], ...]
    pairs: bool = False
    group: int = 1
    step: int = 0

    def planes(self, frame, width: int, height: int, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """The frame's planes as the planar format holds them (``shapes``: its plane shapes),
        C-contiguous, native-order uint8 or uint16."""
        out_dtype = np.uint8 if self.word == "u1" else np.uint16
        if self.pairs:
            (ch, cw) = shapes[1]
            luma = self._rows(frame, 0, height, width)
            chroma = self._rows(frame, 1, ch, 2 * cw).reshape(ch, cw, 2)
            picked = [luma, *(chroma[:, :, p] for (p,) in self.samples)]
        else:
            groups = -(-width // self.group)
            pixels = self._rows(frame, 0, height, groups * self.step).reshape(height, groups, self.step)
            picked = [
                pixels[:, :, p[0]]
                if len(p) == 1 and self.group > 1
                else pixels[:, :, list(p)].reshape(height, groups * self.group)[:, :width]
                for p in self.samples
            ]
        return [np.array(p, out_dtype, order="C") for p in picked]

    def _rows(self, frame, k: int, rows: int, words: int) -> np.ndarray:
        """The first ``words`` words of each of the ``rows`` rows of the frame's plane k; an
        InputError if the decoder's plane is smaller (a frame at odds with its format)."""
        word = np.dtype(self.word)
        planes = frame.planes
        if (
            k >= len(planes)
            or planes[k].line_size < words * word.itemsize
            or planes[k].buffer_size < rows * planes[k].line_size
        ):
            raise InputError(
                f"{frame.format.name} frame of {frame.width}x{frame.height}: plane {k} too small for "
                f"{rows} rows of {words} samples"
            )
        return plane_view(planes[k], word, rows)[:, :words]


def _both_orders(name: str, planar: str, **fields) -> dict[str, Layout]:
    """A 16-bit format's little- and big-endian layouts (one planar format: native-order words)."""
    return {
        name + order: Layout(planar, ("<" if order == "le" else ">") + "u2", **fields)
        for order in ("le", "be")
    }


_UV = ((0,), (1,))  # a chroma pair: U, then V
_YUYV = dict(samples=((0, 2), (1,), (3,)), group=2, step=4)

#: The packed and semi-planar formats read natively, by FFmpeg's name.
LAYOUTS: dict[str, Layout] = {
    "nv12": Layout("yuv420p", "u1", _UV, pairs=True),
    "nv21": Layout("yuv420p", "u1", _UV[::-1], pairs=True),
    "nv16": Layout("yuv422p", "u1", _UV, pairs=True),
    "nv24": Layout("yuv444p", "u1", _UV, pairs=True),
    "nv42": Layout("yuv444p", "u1", _UV[::-1], pairs=True),
    **_both_orders("p010", "yuv420p16le", samples=_UV, pairs=True),
    **_both_orders("p012", "yuv420p16le", samples=_UV, pairs=True),
    **_both_orders("p016", "yuv420p16le", samples=_UV, pairs=True),
    **_both_orders("p210", "yuv422p16le", samples=_UV, pairs=True),
    **_both_orders("p212", "yuv422p16le", samples=_UV, pairs=True),
    **_both_orders("p216", "yuv422p16le", samples=_UV, pairs=True),
    **_both_orders("p410", "yuv444p16le", samples=_UV, pairs=True),
    **_both_orders("p412", "yuv444p16le", samples=_UV, pairs=True),
    **_both_orders("p416", "yuv444p16le", samples=_UV, pairs=True),
    "yuyv422": Layout("yuv422p", "u1", **_YUYV),
    "uyvy422": Layout("yuv422p", "u1", ((1, 3), (0,), (2,)), group=2, step=4),
    "yvyu422": Layout("yuv422p", "u1", ((0, 2), (3,), (1,)), group=2, step=4),
    **_both_orders("y210", "yuv422p16le", **_YUYV),
    **_both_orders("y212", "yuv422p16le", **_YUYV),
    **_both_orders("y216", "yuv422p16le", **_YUYV),
    "uyyvyy411": Layout("yuv411p", "u1", ((1, 2, 4, 5), (0,), (3,)), group=4, step=6),
    "vyu444": Layout("yuv444p", "u1", ((1,), (2,), (0,)), step=3),
    "vuya": Layout("yuva444p", "u1", ((2,), (1,), (0,), (3,)), step=4),
    "uyva": Layout("yuva444p", "u1", ((1,), (0,), (2,), (3,)), step=4),
    "ayuv": Layout("yuva444p", "u1", ((1,), (2,), (3,), (0,)), step=4),
    **_both_orders("xv36", "yuv444p16le", samples=((1,), (0,), (2,)), step=4),
    **_both_orders("xv48", "yuv444p16le", samples=((1,), (0,), (2,)), step=4),
    # 16-bit RGB(A) and gray-alpha (PNG, TIFF) as planar RGB: planes green, blue, red (and alpha)
    **_both_orders("rgb48", "gbrp16le", samples=((1,), (2,), (0,)), step=3),
    **_both_orders("bgr48", "gbrp16le", samples=((1,), (0,), (2,)), step=3),
    **_both_orders("rgba64", "gbrap16le", samples=((1,), (2,), (0,), (3,)), step=4),
    **_both_orders("bgra64", "gbrap16le", samples=((1,), (0,), (2,), (3,)), step=4),
    **_both_orders("ya16", "gbrap16le", samples=((0,), (0,), (0,), (1,)), step=2),
}
