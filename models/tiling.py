"""Large frames predicted tile by tile, so that the network's memory does not grow with the frame.

The integer networks hold about 1 KB of activations per pixel during a forward pass (five steps of
encoder outputs, LSTM gates and states), 2 GB for a 1600x1400 frame. Every output pixel depends
only on the input within ``Arch.reach`` rows and columns of it, so a frame above ``tiled_from``
pixels is predicted in tiles (``tile_side``), each run on its window grown by a halo of at least that reach
(clipped to the frame) and cut back to the tile: the same integers as the whole frame's forward pass
(``tests/test_tiling.py``), for about (side + 2 x halo)^2 pixels of activations at a time.

The halo and the tiles' corners are multiples of 4, so every tile's window starts on the grids of
the networks' stride-2 convolution and their two 2x2 poolings (whose ceil mode and nearest
upsampling then map each row as in the whole frame: row i reads half-resolution row i // 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

#: Frames above this many pixels (a 256x256 frame's) are predicted in tiles on the CPU; smaller ones
#: whole. A whole frame's forward pass holds about 600 bytes a pixel at its peak, the step memo's
#: 32 MB aside, so typical GIF sizes peaked far above the rest of the codec (a 480x270 clip
#: encoded at 302 MiB and decoded at 260, 221 and 193 in tiles; a 960x540 one encoded at 563 MiB,
#: 269 in tiles), while a tile's window (224x224 for ``convlstm-hybrid``) holds about 30 MB, what
#: a 50,000-pixel frame would. The model alone then takes about 1.5x its time at 480x270 (the
#: halo, and no step memo); the whole encode there 1.06x, within the noise (bench/SPEED.md,
#: "The model in tiles from 256x256").
TILED_FROM = 1 << 16
#: The same on a GPU, where the activations are in the device's memory and each tile is another
#: round of kernel launches: a 1024x512 frame's (half a gigabyte of activations).
TILED_FROM_GPU = 1 << 19


def tiled_from(device: object) -> int:
    """Pixels above which a frame is predicted in tiles on ``device`` ("cpu", "cuda", "cuda:0", or
    a torch.device: what ``str`` makes of it)."""
    return TILED_FROM if str(device) == "cpu" else TILED_FROM_GPU


#: A tile's smallest side in pixels (a multiple of 4): 192 + 2 x 16 for ``convlstm-hybrid``, whose
#: prediction of a 1600x1400 frame then peaks at 213 MB in all in 256-pixel tiles (483 MB in
#: 512-pixel ones), in the same time: its halo adds 27 % of pixels instead of 13 %. 192-pixel
#: tiles take another 36-43 MB off a 1280x720 or 1600x1400 frame's prediction, the peak of
#: encoding the first and decoding the second, for 1.11x the model's time on 1280x720 (the halo
#: adds 36 %; whole processes stayed within the noise; bench/SPEED.md, "Memory of large frames,
#: 2026-12-03"); 128-pixel ones took 1.3-1.6x the time.
TILE = 192
#: Tiles grow with the halo so that it adds at most about half of a tile's pixels:
#: (side + 2 halo)^2 <= 1.5 side^2 for sides of at least 9 halos.
HALO_SIDES = 9
#: The grid that a tile's window must start on: the 1/4-resolution level of ``convlstm-unet``.
ALIGN = 4


class Tile(NamedTuple):
    """One tile: its window in the frame (rows, columns), and the tile within the window and
    within the frame."""

    window: tuple[slice, slice]
    inside: tuple[slice, slice]
    frame: tuple[slice, slice]


def halo(reach: int) -> int:
    """The halo for a network of this reach: rounded up to the alignment grid."""
    return -(-reach // ALIGN) * ALIGN


def tile_side(reach: int) -> int:
    """The tile side for a network of this reach: TILE, or for a far-reaching one (the 40 pixels of
    ``convlstm-unet``: 384) the multiple of 64 that keeps its halo's share of the work small."""
    return max(TILE, -(-HALO_SIDES * halo(reach) // 64) * 64)


def tiles(height: int, width: int, reach: int, tile: int = TILE) -> Iterator[Tile]:
    """The tiles covering a frame, row by row; each window is the tile grown by ``halo(reach)``."""
    if tile <= 0 or tile % ALIGN:
        raise ValueError(f"tile side {tile} is not a positive multiple of {ALIGN}")
    pad = halo(reach)
    for y0 in range(0, height, tile):
        y1 = min(height, y0 + tile)
        ya, yb = max(0, y0 - pad), min(height, y1 + pad)
        for x0 in range(0, width, tile):
            x1 = min(width, x0 + tile)
            xa, xb = max(0, x0 - pad), min(width, x1 + pad)
            yield Tile(
                (slice(ya, yb), slice(xa, xb)),
                (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa)),
                (slice(y0, y1), slice(x0, x1)),
            )


def region_tile(height: int, width: int, reach: int, rows: slice, cols: slice) -> Tile:
    """The one tile that covers ``rows`` x ``cols`` of a frame (slices with start and stop), its
    corners moved out to the alignment grid (or the frame's edge) and its window grown by
    ``halo(reach)`` like ``tiles``': predicted alone, it gives the whole frame's integers there."""
    if not (0 <= rows.start < rows.stop <= height and 0 <= cols.start < cols.stop <= width):
        raise ValueError(f"region {rows} x {cols} is not inside a {width}x{height} frame")
    pad = halo(reach)
    y0, x0 = rows.start // ALIGN * ALIGN, cols.start // ALIGN * ALIGN
    y1, x1 = min(height, -(-rows.stop // ALIGN) * ALIGN), min(width, -(-cols.stop // ALIGN) * ALIGN)
    ya, yb = max(0, y0 - pad), min(height, y1 + pad)
    xa, xb = max(0, x0 - pad), min(width, x1 + pad)
    return Tile(
        (slice(ya, yb), slice(xa, xb)),
        (slice(y0 - ya, y1 - ya), slice(x0 - xa, x1 - xa)),
        (slice(y0, y1), slice(x0, x1)),
    )
