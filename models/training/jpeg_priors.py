"""Train the initial counts of JPEG-level coding (format version 19, ``codec.dct_coding``).

``python -m fpcodec.models.training.jpeg_priors CLIP.avi ... -o models/weights/jpeg-priors.safetensors``

The coder's counts adapt within a frame and start over at every frame (the planar decoder keeps
no state but its reference frames);
starting from counts that already know how JPEG levels fall in each context saves what each frame
would spend learning it again (12.1 % of the bytes, leave one source out, on the dev split's
Motion JPEG: ``models/TRAINING.md``). Every frame of the clips is coded from the untrained start
(``dct_coding.PRIOR``), counting each context's symbols; a context's initial counts are its share
of each symbol scaled to ROW_TOTAL (at least 1 each), so that a frame's own levels soon outweigh
them. The clips must be Motion JPEG made from training footage (``bench/jpeg_planes.py`` writes
such clips from the natural corpus' dev split), never from a held-out source.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ...bitstream import entropy
from ...codec import dct_coding, planar_io

#: A trained row's counts sum to about this (more: slower to move; fewer: less known).
ROW_TOTAL = 256
#: The Exp-Golomb bit counts' rows (rare: few values escape).
BITS_TOTAL = 8


def tally(paths: list[Path]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per family and context, how often each magnitude symbol and each bit count was coded in
    the clips' JPEG-level frames (coded from the untrained start), and how many frames."""
    symbols = np.zeros((dct_coding.FAMILIES, dct_coding.CONTEXTS, dct_coding.ESCAPE + 1), np.int64)
    bits = np.zeros((dct_coding.FAMILIES, dct_coding.CONTEXTS, dct_coding.EXP_BITS + 1), np.int64)
    frames = 0
    for path in tqdm(paths, desc="jpeg priors", unit="clip"):
        _, clip = planar_io.read_planes(path)
        previous = None
        for planes in clip:
            codes = dct_coding.fit_frame(planes)
            if codes is not None:
                families = [
                    dct_coding.Counts(f, untrained=True, tally=True) for f in range(dct_coding.FAMILIES)
                ]
                dct_coding.encode_planes(entropy.FrameEncoder(compiled=True), codes, previous, families)
                for f, counts in enumerate(families):
                    symbols[f] += counts.tally[0]
                    bits[f] += counts.tally[1]
                frames += 1
            previous = planes
    return symbols, bits, frames


def scaled(counts: np.ndarray, total: int) -> np.ndarray:
    """Each row's shares (half a count added to every entry) scaled to ``total``, at least 1."""
    rows = counts.astype(np.float64) + 0.5
    rows *= total / rows.sum(axis=-1, keepdims=True)
    return np.maximum(np.round(rows), 1).astype(np.uint16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jpeg_priors", description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+", type=Path, help="Motion JPEG clips of training footage")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from safetensors.numpy import save_file

    symbols, bits, frames = tally(args.clips)
    metadata = {
        "what": "initial counts of fpcodec's JPEG-level coding (format version 19)",
        "clips": json.dumps([p.name for p in args.clips]),
        "frames": str(frames),
        "row_total": str(ROW_TOTAL),
        "command": "python -m fpcodec.models.training.jpeg_priors "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    save_file(
        {"symbols": scaled(symbols, ROW_TOTAL), "bits": scaled(bits, BITS_TOTAL)}, str(args.out), metadata
    )
    print(f"{args.out}: {frames} frames of {len(args.clips)} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
