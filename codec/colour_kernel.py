"""Compiled look-up of a frame's distinct colours, for ``palette_coding.indexed_colours`` and the
GIF writer's colour counts.

``np.unique`` of a frame's packed colours (with the pixels' indices among them) sorts every pixel:
14 ms a 480x270 frame, once per decoded palette frame for the previous frame's colours and up to
three times per frame in the GIF writer. A frame of at most a few thousand colours needs no sort of
its pixels: one pass puts each colour in a small open-addressing hash table (numbered in the order
met), the few distinct keys are sorted, and a second pass writes each pixel's rank among them. The
keys and indices are ``np.unique``'s (``tests/test_colour_kernel.py``). Imported on first use:
numba takes a moment to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream.table_kernel import first_call

#: Fibonacci hashing's multiplier (2^64 / golden ratio); a slot is the product's top bits.
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
#: Pixels whose ranks the second pass writes at a time (its int32 scratch: 256 KB).
_BLOCK = 1 << 16


@numba.njit(cache=True, nogil=True, inline="always")
def _key(flat, i):  # pragma: no cover - compiled
    """Pixel i's colour packed as ``pack_colours`` packs it (channels high to low)."""
    key = np.int64(0)
    for c in range(flat.shape[1]):
        key = (key << 8) | np.int64(flat[i, c])
    return key


@numba.njit(cache=True, nogil=True, inline="always")
def _slot(key, slot_keys, shift):  # pragma: no cover - compiled
    """The slot that holds ``key``, or the empty one where it goes (linear probing)."""
    mask = slot_keys.size - 1
    h = np.int64((np.uint64(key) * _MULTIPLIER) >> shift)
    while slot_keys[h] != key and slot_keys[h] >= 0:
        h = (h + 1) & mask
    return h


@numba.njit(cache=True, nogil=True)
def _insert(flat, limit, shift, slot_keys, slot_ids, distinct):  # pragma: no cover - compiled
    """Every colour of ``flat`` (N, C) uint8 into the table (``slot_keys`` -1: empty; ``slot_ids``:
    the order in which the colours came), its packed key into ``distinct`` in that order. Returns
    how many colours there are, or -1 once there are more than ``limit`` (the rest unread)."""
    count = 0
    last = np.int64(-1)
    for i in range(flat.shape[0]):
        key = _key(flat, i)
        if key == last:  # a run of one colour: the table is not probed again
            continue
        last = key
        h = _slot(key, slot_keys, shift)
        if slot_keys[h] < 0:
            if count == limit:
                return -1
            slot_keys[h] = key
            slot_ids[h] = count
            distinct[count] = key
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _ranks(flat, shift, slot_keys, slot_ranks, out):  # pragma: no cover - compiled
    """``out[i]``: the rank of pixel i's colour (every colour is in the table)."""
    last = np.int64(-1)
    rank = np.int32(0)
    for i in range(flat.shape[0]):
        key = _key(flat, i)
        if key != last:
            last = key
            rank = slot_ranks[_slot(key, slot_keys, shift)]
        out[i] = rank


#: Channels a packed key holds: 7 bytes keep it a non-negative int64 (-1 marks an empty slot).
MAX_CHANNELS = 7


def _table(flat: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.uint64] | None:
    """(slot keys, slot ids, distinct keys in the order met, table shift) of the (N, C) uint8
    colours, or None for more than ``limit`` distinct colours."""
    if flat.ndim != 2 or flat.shape[1] > MAX_CHANNELS:
        raise ValueError(f"colours must be (N, C) with C <= {MAX_CHANNELS}, got shape {flat.shape}")
    bits = max(4, int(4 * (limit + 1) - 1).bit_length())  # at most a quarter of the slots taken
    slot_keys = np.full(1 << bits, -1, np.int64)
    slot_ids = np.zeros(1 << bits, np.int32)
    distinct = np.empty(limit + 1, np.int64)
    shift = np.uint64(64 - bits)
    with first_call(_insert):
        count = _insert(flat, np.int64(limit), shift, slot_keys, slot_ids, distinct)
    if count < 0:
        return None
    return slot_keys, slot_ids, distinct[:count], shift


def distinct_count(flat: np.ndarray, limit: int) -> int | None:
    """How many distinct colours the (N, C) uint8 array has, or None for more than ``limit``."""
    flat = np.ascontiguousarray(flat, np.uint8)
    found = _table(flat, limit)
    return None if found is None else found[2].size


def indexed_colours(flat: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``palette_coding.indexed_colours``: the sorted distinct packed keys of the (N, C) uint8
    colours and each pixel's index among them (uint8 up to 256 keys, else int32), or None for
    more than ``limit`` keys."""
    flat = np.ascontiguousarray(flat, np.uint8)
    found = _table(flat, limit)
    if found is None:
        return None
    slot_keys, slot_ids, met, shift = found
    index = np.empty(len(flat), np.uint8 if met.size <= 256 else np.int32)
    if met.size == 0:
        return met, index
    order = np.argsort(met)
    rank_of = np.empty(met.size, np.int32)
    rank_of[order] = np.arange(met.size, dtype=np.int32)
    slot_ranks = rank_of[slot_ids]  # an empty slot's id is 0: never read
    scratch = np.empty(min(len(flat), _BLOCK), np.int32)
    with first_call(_ranks):
        for start in range(0, len(flat), _BLOCK):
            part = flat[start : start + _BLOCK]
            _ranks(part, shift, slot_keys, slot_ranks, scratch[: len(part)])
            index[start : start + len(part)] = scratch[: len(part)]
    return met[order], index
