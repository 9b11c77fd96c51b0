"""bench/learned_planar_probe.py, the sizing of a learned per-sample model on raster inter planes:
the encoder's fits are captured as coded (and the encoder left as it was), a sample's features
read nothing a decoder would not yet have, the code lengths are the sums they claim, and a run
over a small corpus writes its report."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from conftest import DATA

from fpcodec.bench import learned_planar_probe as probe
from fpcodec.codec import raster_rule
from fpcodec.codec.modes import planar


def test_capture_keeps_each_inter_planes_fit_and_restores_the_encoder():
    before = planar.estimate, planar._plan_raster, planar._fit_raster_plane
    fits = probe.capture(DATA / "bikes_yuv420p_64x48.mkv")  # 8 yuv420p frames: a key frame, 7 inter
    assert (planar.estimate, planar._plan_raster, planar._fit_raster_plane) == before
    assert [probe.plane_kind(f) for f in fits] == ["luma", "chroma", "chroma"] * 7
    for fit in fits:
        shape = (48, 64) if fit.hint is None else (24, 32)
        assert fit.samples.shape == fit.mc.shape == fit.means.shape == fit.pairs.shape == shape
        assert fit.hint is None or fit.hint.shape == shape
        assert 0 <= fit.means.min() and fit.means.max() <= 16 * 255
        assert (
            0 <= fit.pairs.min() and fit.pairs.max() < planar.planar_rule.CONTEXTS * raster_rule.ERROR_LEVELS
        )
        assert fit.bits > 0
    # the ideal code lengths' family is near the encoder's own estimate of the same planes
    luma = [f for f in fits if f.hint is None]
    bits = sum(probe.plane_bits(*probe.features(f)[1:])[0] for f in luma)
    assert 0.8 < bits / sum(f.bits for f in luma) < 1.25
    # a chroma plane's features end with its hint
    chroma = fits[1]
    np.testing.assert_array_equal(probe.features(chroma)[0][:, -1], chroma.hint.ravel())
    assert probe.features(chroma)[0].shape[1] == probe.features(fits[0])[0].shape[1] + 1


def _random_fit(rng: np.random.Generator, h: int, w: int) -> probe.PlaneFit:
    return probe.PlaneFit(
        rng.integers(0, 256, (h, w)).astype(np.uint8),
        rng.integers(0, 256, (h, w)).astype(np.int32),
        rng.integers(0, 16 * 255, (h, w)).astype(np.int32),
        rng.integers(0, 100, (h, w)).astype(np.int32),
        0.0,
    )


def test_features_read_only_what_is_decoded_before_the_sample():
    """Changing every sample a decoder has not yet decoded when it reaches a sample (across the
    tiles' edges too), and their means, changes none of that sample's features."""
    rng = np.random.default_rng(1)
    h, w = 2 * raster_rule.TILE_H + 5, 2 * raster_rule.TILE_W + 7
    fit = _random_fit(rng, h, w)
    keys = probe.wavefront_keys(h, w)
    x, _, _ = probe.features(fit)
    corners = [
        (0, 0),
        (raster_rule.TILE_H, raster_rule.TILE_W),
        (raster_rule.TILE_H + 1, raster_rule.TILE_W + 1),
    ]
    picked = corners + [tuple(rng.integers(0, (h, w))) for _ in range(40)]
    for y, xpos in picked:
        later = keys >= keys[y, xpos]
        samples = np.where(later, 255 - fit.samples, fit.samples)
        means = np.where(later, 16 * 255 - fit.means, fit.means)
        means[y, xpos] = fit.means[y, xpos]  # the sample's own mean is the rule's, known
        changed = probe.features(fit._replace(samples=samples, means=means))[0]
        np.testing.assert_array_equal(changed[y * w + xpos], x[y * w + xpos])
    # and the earlier samples do count: the left neighbour of a sample inside a tile
    y, xpos = 3, 5
    left = fit.samples.copy()
    left[y, xpos - 1] ^= 1
    assert not np.array_equal(probe.features(fit._replace(samples=left))[0][y * w + xpos], x[y * w + xpos])


def _bits(d: float, b: float) -> float:
    cdf = lambda v: 0.5 * math.exp(v) if v < 0 else 1 - 0.5 * math.exp(-v)  # noqa: E731
    return -math.log2(max(cdf((d + 0.5) / b) - cdf((d - 0.5) / b), 1e-12))  # the floor plane_bits puts


def test_plane_bits_is_each_pairs_cheapest_scale():
    rng = np.random.default_rng(2)
    distance = rng.laplace(0, 3, 300).round(1)
    pairs = rng.integers(0, 4, 300)
    moves = rng.integers(-3, 4, 300)
    for m in (None, moves):
        total, scale = probe.plane_bits(distance, pairs, m)
        want = 0.0
        for p in range(4):
            at = np.flatnonzero(pairs == p)
            costs = []
            for j in range(probe.SCALES):
                idx = [min(max(j + (0 if m is None else m[i]), 0), probe.SCALES - 1) for i in at]
                d16 = [np.rint(distance[i] * 16) / 16 for i in at]
                costs.append(sum(_bits(d, probe.GRID[k]) for d, k in zip(d16, idx, strict=True)))
            want += min(costs)
            assert np.all(scale[at] == probe.GRID[int(np.argmin(costs))])
        assert abs(total - want) < 1e-6 * want


def test_probe_runs_on_a_small_corpus(tmp_path):
    for split, name in (("dev", "carphone_yuv420p_64x48.mkv"), ("test", "bikes_yuv420p_64x48.mkv")):
        (tmp_path / "corpus" / split).mkdir(parents=True)
        shutil.copy(DATA / name, tmp_path / "corpus" / split / name)
    result = probe.run_probe(tmp_path / "corpus", (4,), steps=30, per_plane=500, extra_train=[])
    assert [(r["clip"], r["split"], r["plane"], r["planes"]) for r in result["rows"]] == [
        ("carphone_yuv420p_64x48", "dev", "luma", 11),
        ("bikes_yuv420p_64x48", "test", "luma", 7),
        ("carphone_yuv420p_64x48", "dev", "chroma", 22),
        ("bikes_yuv420p_64x48", "test", "chroma", 14),
    ]
    assert all(r["rule"] > 0 and r["mean"] > 0 and r["both"] > 0 for r in result["rows"])
    assert result["forward_ms_320x240"] > 0 and result["forward_ms_320x240_float32"] > 0
    probe.report(result, tmp_path / "out", "command")
    assert json.loads((tmp_path / "out" / "probe.json").read_text())["hidden"] == [4]
    assert "| **test** | luma and chroma |" in (tmp_path / "out" / "README.md").read_text()
    assert (tmp_path / "out" / "probe.png").stat().st_size > 0


def test_folds_cost_each_family_with_a_network_that_never_saw_it(tmp_path, monkeypatch):
    """``--folds``: one network per held-out family, trained on every clip of the others."""
    corpus = tmp_path / "corpus"
    for split, name in (
        ("dev", "carphone_yuv420p_64x48.mkv"),
        ("test", "bikes_yuv420p_64x48.mkv"),
        ("test", "carphone_yuv420p_64x48.mkv"),
    ):
        (corpus / split).mkdir(parents=True, exist_ok=True)
        target = f"other_{name}" if split == "test" and name.startswith("carphone") else name
        shutil.copy(DATA / name, corpus / split / target)
    assert probe.families(corpus, ["bikes_yuv420p_64x48", "other_carphone_yuv420p_64x48"]) == {
        "bikes_yuv420p_64x48": "bikes",
        "other_carphone_yuv420p_64x48": "other",
    }
    trained_on = []
    train = probe.train

    def recording(data, hidden, steps, seed=0):
        trained_on.append(int(data.distance.size))
        return train(data, hidden, steps, seed)

    monkeypatch.setattr(probe, "train", recording)
    result = probe.run_probe(corpus, (4,), steps=5, per_plane=100, extra_train=[], folds=True)
    # two families held out, each costed by the network trained on the other two clips' 100-sample
    # draws a plane: luma (11 inter frames of carphone, 7 of bikes), then chroma (twice as many)
    assert [(r["clip"], r["plane"]) for r in result["rows"]] == [
        ("bikes_yuv420p_64x48", "luma"),
        ("other_carphone_yuv420p_64x48", "luma"),
        ("bikes_yuv420p_64x48", "chroma"),
        ("other_carphone_yuv420p_64x48", "chroma"),
    ]
    assert trained_on == [(11 + 11) * 100, (11 + 7) * 100, 2 * (11 + 11) * 100, 2 * (11 + 7) * 100]
    assert result["folds"]


def test_folds_refuse_extra_training_clips(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        probe.main([str(tmp_path), "-o", str(tmp_path / "out"), "--folds", "--extra-train", "x"])
    assert exit_.value.code == 2
    assert "--extra-train has no place beside it" in capsys.readouterr().err


def test_totals_weight_each_plane_kind_by_its_whole_planes_bits():
    """Drawn samples are a smaller part of a large plane than of a small one: totals weight each
    row's ratio by the encoder's bits for its planes, not by the drawn samples' bits."""
    rows = [
        {"encoder_bits": 3000.0, "rule": 10.0, "mean": 9.5, "both": 9.0},
        {"encoder_bits": 1000.0, "rule": 90.0, "mean": 90.0, "both": 90.0},
    ]
    mean, both = probe._ratios(rows)
    assert math.isclose(mean, (3 * 0.95 + 1.0) / 4) and math.isclose(both, (3 * 0.9 + 1.0) / 4)
