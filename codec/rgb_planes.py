"""RGB frames as planes (format version 16, pixel formats 13 and 14): green, blue and red less green.

Why: a frame of more than 256 colours cannot be coded over a palette, and the RGB modes code each
channel under one prediction per pixel, the temporal one in an inter frame (no motion, no
decoded neighbours). The planar rule has what those lack (motion-compensated inter planes,
wavefronts with contexts and error levels), so an RGB source with many colours codes far smaller
through it, once its channels are decorrelated: natural colours move together, so blue and red
are coded as their differences from green (WebP lossless's "subtract green"), offset by 128 so
that small differences either way sit mid-range instead of wrapping at 0. The transform is a
bijection on 8-bit samples (mod 256), so the stream keeps every RGB sample. An RGBA frame's alpha
is a fourth plane, as it is.

Measured (bench/results/rgb_planes/README.md): the natural corpus's held-out clips read as RGB code
in 0.444 of the RGB modes' bytes (0.904 of FFV1's), its dev clips in 0.25-0.55 each and
scikit-image's photographs in 0.73-0.88.
"""

from __future__ import annotations

import itertools
from typing import Iterable

import numpy as np

#: Added to blue and red less green (mod 256).
OFFSET = 128
#: A frame with more colours than this has no palette frame: its source is coded as planes.
PALETTE_COLOURS = 256


def to_planes(frame: np.ndarray) -> list[np.ndarray]:
    """The (H, W, 3) uint8 RGB ``frame`` as its three coded planes: G, (B - G + 128) mod 256 and
    (R - G + 128) mod 256, each (H, W) uint8; an RGBA frame's alpha is a fourth plane."""
    rgb = np.asarray(frame, dtype=np.uint8)
    green = np.ascontiguousarray(rgb[:, :, 1])
    blue = rgb[:, :, 2] - green + np.uint8(OFFSET)  # uint8 arithmetic wraps: mod 256
    red = rgb[:, :, 0] - green + np.uint8(OFFSET)
    alpha = [np.ascontiguousarray(rgb[:, :, 3])] if rgb.shape[2] == 4 else []
    return [green, np.ascontiguousarray(blue), np.ascontiguousarray(red), *alpha]


def to_rgb(planes: list[np.ndarray]) -> np.ndarray:
    """``to_planes`` undone: the (H, W, 3) uint8 RGB frame of the three planes (RGBA of four)."""
    green, blue, red = (np.asarray(p, dtype=np.uint8) for p in planes[:3])
    out = np.empty(green.shape + (len(planes),), np.uint8)
    out[:, :, 0] = red + green - np.uint8(OFFSET)
    out[:, :, 1] = green
    out[:, :, 2] = blue + green - np.uint8(OFFSET)
    if len(planes) == 4:
        out[:, :, 3] = planes[3]
    return out


def less_green(plane: np.ndarray, green: np.ndarray, depth: int) -> np.ndarray:
    """A blue or red plane of ``depth``-bit samples (int64) as coded: ``(plane - green +
    2^(depth-1)) mod 2^depth``, the transform of ``to_planes`` at any depth (planar RGB formats,
    version 17)."""
    return (plane - green + (1 << (depth - 1))) & ((1 << depth) - 1)


def plus_green(coded: np.ndarray, green: np.ndarray, depth: int) -> np.ndarray:
    """``less_green`` undone."""
    return (coded + green - (1 << (depth - 1))) & ((1 << depth) - 1)


#: Pixels looked at a time by ``many_colours``.
_BLOCK = 1 << 16


def many_colours(frame: np.ndarray) -> bool:
    """Whether an (H, W, C) uint8 frame has more than ``PALETTE_COLOURS`` distinct colours, read in
    blocks of pixels until it is known: a photograph answers within its first block (a whole
    12.6-Mpixel frame's ``np.unique`` took 2 s)."""
    flat = np.ascontiguousarray(frame, dtype=np.uint8).reshape(-1, frame.shape[-1])
    seen = np.zeros(0, np.uint64)
    for start in range(0, len(flat), _BLOCK):
        part = flat[start : start + _BLOCK].astype(np.uint64)
        keys = part[:, 0] << 16 | part[:, 1] << 8 | part[:, 2]
        if frame.shape[-1] > 3:
            keys = keys << 8 | part[:, 3]
        seen = np.union1d(seen, keys)
        if seen.size > PALETTE_COLOURS:
            return True
    return False


#: How far ``codes_as_planes`` looks: a source whose first frames have few colours and that then
#: turns to a photograph or film (a fade from black, a title) is still coded as planes; a fade of
#: 3 frames from black before 9 frames of carphone took 423,924 bytes by its palettes, 230,218 as
#: planes. The frames looked at are held in memory until coded, hence the bound in pixels too.
PEEK_FRAMES = 10
PEEK_PIXELS = 1 << 25


def codes_as_planes(frames: Iterable[np.ndarray], channels: int, is_gif: bool) -> bool:
    """Whether an RGB(A) source is coded as planes (``fpcodec encode`` and ``batch`` decide alike):
    not a GIF (whose frames are palettes), and one of its first frames (PEEK_FRAMES, at most
    PEEK_PIXELS pixels but always the first frame) of more colours than a palette holds; a source
    of few colours codes smaller over its palettes. ``frames`` is read lazily, only as far as needed."""
    if is_gif or channels not in (3, 4):
        return False
    pixels = 0
    for k, frame in enumerate(itertools.islice(frames, PEEK_FRAMES)):
        if k and pixels + frame.shape[0] * frame.shape[1] > PEEK_PIXELS:
            return False
        if many_colours(frame):
            return True
        pixels += frame.shape[0] * frame.shape[1]
    return False
