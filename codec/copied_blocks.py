"""Copied blocks (format version 9): a palette frame's blocks that equal the previous frame.

Screen recordings, UI demos and line-art animations change a few small regions a frame (a clock's
digits, a progress bar, a cursor); a GIF codes only the changed rectangle. Coded pixel by pixel,
each unchanged pixel still costs a little (1-60 % of such frames' bytes on the screen corpus, the
rest of the frame being a handful of changed glyphs). So a palette frame (modes 2, 3, 4) that has a
previous frame may split itself into square blocks of side ``COPY_SIDES[code]`` and send, before its
passes, one flag per block: 1 = its pixels are coded, 0 = they are the previous frame's, copied.
The passes then code only the pixels of flagged blocks; copied pixels are known from the start,
vote and key contexts like decoded ones, and add no counts.

The flags are coded row of blocks by row of blocks, each row in one constriction call: a block's
context is the flags of the three blocks above it (above-left, above, above-right; 0 outside the
map; a ninth context for the first row), and each context's counts (starting at 1 and 1) learn
after every row. See FORMAT.md, "Copied blocks".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..bitstream import entropy

#: Mix bits 18-19 (version 9): the block side; 0 = no map, every pixel is coded.
COPY_SIDES = (0, 4, 8, 16)
MIX_SHIFT = 18
_FIRST_ROW = 8  # the context of the first row of blocks (contexts 0-7: the three flags above)
_CONTEXTS = 9
#: The encoder's guess of what an unchanged pixel costs when it is coded anyway (bits), which
#: decides the block side (``choose``). Streams are unaffected: any choice decodes.
UNCHANGED_BITS = 0.02


def side_of(mix: int) -> int:
    """The block side a palette frame's mix field selects (0: no copied blocks)."""
    return COPY_SIDES[(mix >> MIX_SHIFT) & 3]


def grid(height: int, width: int, side: int) -> tuple[int, int]:
    """Rows and columns of blocks (the last ones may be cut by the frame's edge)."""
    return -(-height // side), -(-width // side)


def changed_blocks(changed: np.ndarray, side: int) -> np.ndarray:
    """(rows, cols) bool: which blocks hold a pixel of the (H, W) ``changed`` mask."""
    h, w = changed.shape
    rows, cols = grid(h, w, side)
    padded = np.zeros((rows * side, cols * side), bool)
    padded[:h, :w] = changed
    return padded.reshape(rows, side, cols, side).any(axis=(1, 3))


def coded_pixels(blocks: np.ndarray, side: int, height: int, width: int) -> np.ndarray:
    """(H*W,) bool: the pixels of the flagged blocks, row-major."""
    full = np.repeat(np.repeat(blocks, side, axis=0), side, axis=1)
    return np.ascontiguousarray(full[:height, :width]).ravel()


def _contexts(above: np.ndarray | None, cols: int) -> np.ndarray:
    if above is None:
        return np.full(cols, _FIRST_ROW, np.int64)
    a = above.astype(np.int64)
    left = np.concatenate([[0], a[:-1]])
    right = np.concatenate([a[1:], [0]])
    return 4 * left + 2 * a + right


def _rows(blocks_shape: tuple[int, int], flags_of):
    """Walk the map row by row: yields (row, contexts, probability rows) and learns each row's
    flags from ``flags_of(row, rows)`` (the true flags, or the decoded ones)."""
    counts = np.ones((_CONTEXTS, 2), np.int64)
    above = None
    for r in range(blocks_shape[0]):
        ctx = _contexts(above, blocks_shape[1])
        flags = flags_of(r, counts[ctx].astype(np.float64))
        np.add.at(counts, (ctx, flags.astype(np.int64)), 1)
        above = flags


def encode_map(blocks: np.ndarray, coder: entropy.FrameEncoder) -> None:
    """Code the flags (before the frame's passes)."""

    def put(r: int, rows: np.ndarray) -> np.ndarray:
        coder.encode_categorical(blocks[r].astype(np.int32), rows)
        return blocks[r]

    _rows(blocks.shape, put)


def decode_map(coder: entropy.FrameDecoder, rows: int, cols: int) -> np.ndarray:
    """The flags ``encode_map`` coded, (rows, cols) bool."""
    out = np.zeros((rows, cols), bool)

    def get(r: int, probs: np.ndarray) -> np.ndarray:
        out[r] = coder.decode_categorical(probs) == 1
        return out[r]

    _rows(out.shape, get)
    return out


def map_bits(blocks: np.ndarray) -> float:
    """Ideal code length of the flags in bits (the encoder's estimate)."""
    total = 0.0

    def cost(r: int, rows: np.ndarray) -> np.ndarray:
        nonlocal total
        f = blocks[r].astype(np.int64)
        total += float(-np.log2(rows[np.arange(f.size), f] / rows.sum(axis=1)).sum())
        return blocks[r]

    _rows(blocks.shape, cost)
    return total


@dataclass(frozen=True, eq=False)
class CopiedBlocks:
    """The encoder's choice for one frame: the side's code, the flags and the coded pixels."""

    code: int
    blocks: np.ndarray  # (rows, cols) bool, True = coded
    coded: np.ndarray  # (H*W,) bool
    bits: float  # the flags' ideal code length

    @property
    def side(self) -> int:
        return COPY_SIDES[self.code]

    @property
    def mix_bits(self) -> int:
        return self.code << MIX_SHIFT


def choose(frame: np.ndarray, previous: np.ndarray) -> CopiedBlocks | None:
    """The block side for ``frame`` ((H, W, C)) after ``previous``, or None for none: each side is
    costed as its flags' bits plus UNCHANGED_BITS for every unchanged pixel it still codes."""
    changed = (frame != previous).any(axis=-1)
    unchanged = changed.size - int(changed.sum())
    if unchanged == 0:
        return None
    h, w = changed.shape
    best: tuple[float, CopiedBlocks | None] = (UNCHANGED_BITS * unchanged, None)
    for code in range(1, len(COPY_SIDES)):
        side = COPY_SIDES[code]
        blocks = changed_blocks(changed, side)
        coded = coded_pixels(blocks, side, h, w)
        bits = map_bits(blocks)
        cost = bits + UNCHANGED_BITS * (int(coded.sum()) - int(changed.sum()))
        if cost < best[0]:
            best = (cost, CopiedBlocks(code, blocks, coded, bits))
    return best[1]
