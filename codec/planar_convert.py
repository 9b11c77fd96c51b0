"""RGB views of planar frames, for outputs that hold RGB only (PNG, APNG, GIF, WebP).

A conversion, not the stream's samples: FFmpeg's swscale turns the planes into RGB24 by the
stream's colour range and matrix (BT.601 where the source left them unspecified), as any player
would. ``fpcodec decode`` says so whenever it writes one. Planar RGB of 16 bits (gbrp16le,
gbrap16le) is an exception PNG holds exactly (``to_packed_rgb``), and 8- and 16-bit gray another
(its one plane, written as gray PNG: ``cli.write_planar``).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from .planar_io import COLOR_RANGE_JPEG, ColourInfo, PixelFormat


def to_packed_rgb(planes_seq: Iterable[list[np.ndarray]]) -> Iterator[np.ndarray]:
    """(H, W, 3) or (H, W, 4) uint16 RGB(A) frames of planar RGB frames (green, blue, red, alpha
    planes): the same samples, packed as a 16-bit PNG holds them."""
    for planes in planes_seq:
        green, blue, red, *alpha = planes
        yield np.dstack([red, green, blue, *alpha]).astype(np.uint16, copy=False)


def to_rgb(
    planes_seq: Iterable[list[np.ndarray]], fmt: PixelFormat, colour: ColourInfo, width: int, height: int
) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames of the planar frames ``planes_seq``, one at a time; (H, W, 4)
    RGBA for a format with an alpha plane: the colour planes' conversion and the alpha plane's own
    samples (their top 8 bits), not swscale's alpha, which changes 8-bit alpha by one in places and
    read memory it never wrote at some widths (``io.to_rgb_array``)."""
    import av

    from .io import SWSCALE_THREADS

    full = colour.color_range == COLOR_RANGE_JPEG
    for planes in planes_seq:
        frame = av.VideoFrame(width, height, fmt.name)
        for plane, samples in zip(frame.planes, planes, strict=True):
            stride = plane.line_size // samples.itemsize
            padded = np.zeros((samples.shape[0], stride), samples.dtype)
            padded[:, : samples.shape[1]] = samples
            plane.update(padded.astype(samples.dtype.newbyteorder("<"), copy=False).tobytes())
        if full:
            frame.color_range = 2
        rgb = frame.reformat(format="rgb24", threads=SWSCALE_THREADS).to_ndarray()
        if fmt.alpha:
            alpha = (planes[-1] >> (fmt.depth - 8)).astype(np.uint8)
            rgb = np.dstack([rgb, alpha])
        yield rgb
