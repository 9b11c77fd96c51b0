"""Packed and semi-planar YUV frames read as the planar format of the same samples.

Raw captures (webcams, capture cards, rawvideo in AVI, MOV, NUT or Matroska) hold YUV as nv12 (a
luma plane and one of interleaved chroma pairs), yuyv422 (two luma samples and a chroma pair in
four bytes) and their kin. Their samples are those of a planar format, laid out otherwise: nv12's
are yuv420p's, yuyv422's yuv422p's, y210le's (10 bits at the top of 16-bit words) yuv422p16le's,
word for word. So they are coded natively as that planar format (FFmpeg likewise converts them,
without loss, for FFV1), and the stream, and what ``fpcodec decode`` writes, hold the planar format:
every sample, not the interleaving. Layouts as FFmpeg's ``libavutil/pixdesc.c`` gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream.errors import InputError
from .io import plane_view


@dataclass(frozen=True)
class Layout:
    """Where a format keeps its samples. Semi-planar (``pairs``): plane 0 is the luma, plane 1
    the chroma pairs, U at ``u`` and V at ``v`` of each pair. Packed: plane 0 alone, in groups of
    ``group`` pixels of ``step`` words; ``y`` lists the group's luma positions, ``u``, ``v`` (and
    ``a``, alpha) the position of its one chroma (alpha) sample."""

    planar: str  # FFmpeg's name of the planar format of the same samples
    word: str  # numpy dtype of a sample: "u1", "<u2", ">u2"
    u: int
    v: int
    pairs: bool = False
    group: int = 1
    step: int = 0
    y: tuple[int, ...] = ()
    a: int | None = None

    def planes(self, frame, width: int, height: int, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """The frame's planes Y, U, V (and A) as the planar format holds them (``shapes``: its
        plane shapes), C-contiguous, native-order uint8 or uint16."""
        out_dtype = np.uint8 if self.word == "u1" else np.uint16
        if self.pairs:
            (ch, cw) = shapes[1]
            luma = self._rows(frame, 0, height, width)
            chroma = self._rows(frame, 1, ch, 2 * cw).reshape(ch, cw, 2)
            picked = [luma, chroma[:, :, self.u], chroma[:, :, self.v]]
        else:
            groups = -(-width // self.group)
            pixels = self._rows(frame, 0, height, groups * self.step).reshape(height, groups, self.step)
            luma = pixels[:, :, list(self.y)].reshape(height, groups * self.group)[:, :width]
            picked = [luma, pixels[:, :, self.u], pixels[:, :, self.v]]
            if self.a is not None:
                picked.append(pixels[:, :, self.a])
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


#: The packed and semi-planar formats read natively, by FFmpeg's name.
LAYOUTS: dict[str, Layout] = {
    "nv12": Layout("yuv420p", "u1", 0, 1, pairs=True),
    "nv21": Layout("yuv420p", "u1", 1, 0, pairs=True),
    "nv16": Layout("yuv422p", "u1", 0, 1, pairs=True),
    "nv24": Layout("yuv444p", "u1", 0, 1, pairs=True),
    "nv42": Layout("yuv444p", "u1", 1, 0, pairs=True),
    **_both_orders("p010", "yuv420p16le", u=0, v=1, pairs=True),
    **_both_orders("p012", "yuv420p16le", u=0, v=1, pairs=True),
    **_both_orders("p016", "yuv420p16le", u=0, v=1, pairs=True),
    **_both_orders("p210", "yuv422p16le", u=0, v=1, pairs=True),
    **_both_orders("p212", "yuv422p16le", u=0, v=1, pairs=True),
    **_both_orders("p216", "yuv422p16le", u=0, v=1, pairs=True),
    **_both_orders("p410", "yuv444p16le", u=0, v=1, pairs=True),
    **_both_orders("p412", "yuv444p16le", u=0, v=1, pairs=True),
    **_both_orders("p416", "yuv444p16le", u=0, v=1, pairs=True),
    "yuyv422": Layout("yuv422p", "u1", 1, 3, group=2, step=4, y=(0, 2)),
    "uyvy422": Layout("yuv422p", "u1", 0, 2, group=2, step=4, y=(1, 3)),
    "yvyu422": Layout("yuv422p", "u1", 3, 1, group=2, step=4, y=(0, 2)),
    **_both_orders("y210", "yuv422p16le", u=1, v=3, group=2, step=4, y=(0, 2)),
    **_both_orders("y212", "yuv422p16le", u=1, v=3, group=2, step=4, y=(0, 2)),
    **_both_orders("y216", "yuv422p16le", u=1, v=3, group=2, step=4, y=(0, 2)),
    "uyyvyy411": Layout("yuv411p", "u1", 0, 3, group=4, step=6, y=(1, 2, 4, 5)),
    "vyu444": Layout("yuv444p", "u1", 2, 0, step=3, y=(1,)),
    "vuya": Layout("yuva444p", "u1", 1, 0, step=4, y=(2,), a=3),
    "uyva": Layout("yuva444p", "u1", 0, 2, step=4, y=(1,), a=3),
    "ayuv": Layout("yuva444p", "u1", 2, 3, step=4, y=(1,), a=0),
    **_both_orders("xv36", "yuv444p16le", u=0, v=2, step=4, y=(1,)),
    **_both_orders("xv48", "yuv444p16le", u=0, v=2, step=4, y=(1,)),
}
