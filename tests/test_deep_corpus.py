"""``bench/deep_corpus.py``: the natural corpus scaled into deeper formats, for the natural benchmark."""

from __future__ import annotations

import json
import shutil

import numpy as np
from conftest import DATA

from fpcodec.bench import deep_corpus
from fpcodec.codec.planar_io import read_planes


def test_a_corpus_is_scaled_into_a_deeper_format_with_real_low_bits(tmp_path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "deep"
    (corpus / "dev").mkdir(parents=True)
    shutil.copy(DATA / "bikes_yuv420p_64x48.mkv", corpus / "dev" / "bikes.mkv")
    entry = {"name": "bikes", "split": "dev", "file": "dev/bikes.mkv", "pix_fmt": "yuv420p", "frames": 8}
    (corpus / "natural_corpus.json").write_text(json.dumps({"description": "tiny", "clips": [entry]}))
    assert deep_corpus.main([str(corpus), str(out), "--format", "yuv420p12le"]) == 0
    manifest = json.loads((out / "natural_corpus.json").read_text())
    (clip,) = manifest["clips"]
    assert clip["pix_fmt"] == "yuv420p12le" and clip["frames"] == 8 and "48x36" in clip["derived"]
    fmt, frames = read_planes(out / "dev" / "bikes.mkv")
    assert fmt.name == "yuv420p12le" and len(frames) == 8 and frames[0][0].shape == (36, 48)
    luma = np.concatenate([f[0].ravel() for f in frames])
    assert len(np.unique(luma & 15)) == 16  # every low-bit pattern: not 8-bit samples shifted up
    assert manifest["description"].endswith("scaled into yuv420p12le")
