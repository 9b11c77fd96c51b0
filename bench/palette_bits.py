"""Where the bytes of a stream's palettes go, and what their coding rules are worth.

    python -m fpcodec.bench.palette_bits STREAM.fpc... [--json FILE]

Every ``PLTE`` of the streams is decoded against the palette in force before it (none for a key
frame's) and split into its parts, each as an ideal code length (bits under the table the body's
coder uses at the scale byte ``encode_palette`` sends), under both versions' rules: the steps
between references with the new colours in canonical order (encoders before 2026-12-06) and in
the order of their references under version 20's zero-mean Laplace over -255..255
(``steps_by_reference``) and version 21's over 0..255 (``steps_one_sided``); the residuals (a
first palette's in the cheaper of canonical order and the encoder's path); the kept colours as
version 20's bitmap and as version 21's coded count and bits (``bitmap_coded``); the counts
and scales. Used for bench/results/palette_order.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..bitstream import entropy
from ..bitstream import palette as bp
from ..codec.pipeline import Decoder

PARTS = (
    "steps_canonical",
    "steps_by_reference",
    "steps_one_sided",
    "residuals",
    "bitmap",
    "bitmap_coded",
    "head",
)


def _bits(table: np.ndarray, values: np.ndarray, lo: int) -> float:
    return float(table[values - lo].sum()) if len(values) else 0.0


def _bits_of(row: np.ndarray) -> np.ndarray:
    """Each value's ideal bits under a row of the coder's tables."""
    return -np.log2(row / row.sum())


class PaletteBits:
    """The parts' ideal bits, summed over the palettes given to ``add``."""

    def __init__(self) -> None:
        self.bits = dict.fromkeys(PARTS, 0.0)
        self.palettes = self.new_colours = 0
        indices = sorted({int(entropy.quantize_scale(np.float64(b / 8))) for b in range(1, 256)})
        self._signed = {i: _bits_of(entropy._signed_row_at(i)) for i in indices}  # version 20's steps
        self._one_sided = {i: _bits_of(entropy.unsigned_row_at(i)) for i in indices}  # version 21's

    @staticmethod
    def _index(values: np.ndarray) -> int:
        return int(entropy.quantize_scale(np.float64(bp._scale_code(values) / 8)))

    def _signed_bits(self, values: np.ndarray) -> float:
        return _bits(self._signed[self._index(values)], values, -255)

    def add(self, palette: np.ndarray, previous: np.ndarray | None) -> None:
        prev = previous if previous is not None else np.zeros((0, palette.shape[1]), np.uint8)
        kept, new = bp.kept_and_new(palette, prev)
        self.palettes += 1
        self.new_colours += len(new)
        self.bits["head"] += 8 * (len(bp._counts(len(palette), len(prev), bp.CURRENT)) + 1 + palette.shape[1])
        self.bits["bitmap"] += 8 * ((len(prev) + 7) // 8)
        if len(prev):
            count = int(kept.sum())
            self.bits["bitmap_coded"] += float(np.log2(len(prev) + 1))
            if 0 < count < len(prev):
                share = count / len(prev)
                self.bits["bitmap_coded"] -= float(np.where(kept, np.log2(share), np.log2(1 - share)).sum())
        if not len(new):
            return
        if len(prev):
            ref = bp._nearest(new, prev)
            residual = new.astype(np.int32) - prev[ref]
            by_ref = np.diff(np.sort(ref), prepend=0)
            self.bits["steps_canonical"] += self._signed_bits(np.diff(ref, prepend=0))
            self.bits["steps_by_reference"] += self._signed_bits(by_ref)
            self.bits["steps_one_sided"] += _bits(self._one_sided[self._index(by_ref)], by_ref, 0)
            self.bits["residuals"] += self._residual_bits(residual)
        else:  # from the colour before, in canonical order or along the encoder's path
            self.bits["residuals"] += min(
                self._residual_bits(np.diff(order.astype(np.int32), axis=0, prepend=0))
                for order in (new, bp._path(new))
            )

    def _residual_bits(self, residual: np.ndarray) -> float:
        return sum(self._signed_bits(residual[:, c]) for c in range(residual.shape[1]))

    def add_stream(self, path: Path) -> None:
        """Every PLTE of the stream at ``path``, against the palette in force before it."""
        with open(path, "rb") as f:
            decoder = Decoder(f, load_model=False)
            before = None
            for rec, palette, sent in decoder.frame_records(palettes=True):
                if rec.key:
                    before = None
                if sent:
                    self.add(palette, before)
                if palette is not None:
                    before = palette

    def absorb(self, other: "PaletteBits") -> None:
        """Add ``other``'s sums to these (a total over streams, each decoded once)."""
        for part, bits in other.bits.items():
            self.bits[part] += bits
        self.palettes += other.palettes
        self.new_colours += other.new_colours

    def bytes(self) -> dict[str, float]:
        return {part: round(bits / 8, 1) for part, bits in self.bits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.palette_bits", description=__doc__.split("\n")[0]
    )
    parser.add_argument("streams", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write the totals here too")
    args = parser.parse_args(argv)
    total = PaletteBits()
    for path in args.streams:
        one = PaletteBits()
        one.add_stream(path)
        total.absorb(one)
        print(f"{path.name}: {one.palettes} palettes, {one.new_colours} new colours, bytes {one.bytes()}")
    print(f"TOTAL: {total.palettes} palettes, {total.new_colours} new colours, bytes {total.bytes()}")
    if args.json:
        args.json.write_text(
            json.dumps({"palettes": total.palettes, "new_colours": total.new_colours, **total.bytes()})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
