"""Learned predictors: interface, determinism, loss = code length, training, weights identity."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fpcodec.bitstream.entropy import (
    MEAN_STEPS,
    SCALE_TABLE,
    coupled_mean_q,
    laplace_bits,  # noqa: E402
    quantize_coupling,
    quantize_mean,
    quantize_scale,
)
from fpcodec.models import registry  # noqa: E402
from fpcodec.models.base import HISTORY, apply_coupling  # noqa: E402

LEARNED = ["conv2d", "conv3d-hybrid", "convlstm-hybrid", "convlstm-unet"]
IDS = {"conv2d": 2, "conv3d-hybrid": 3, "convlstm-hybrid": 4, "convlstm-unet": 5}
DATA = Path(__file__).parent / "data"


def _moving_clip(n=8, h=20, w=24, channels=3, seed=0):
    """A textured square drifting over a static textured background (uint8 (N, H, W, C))."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    sq = rng.integers(0, 256, (6, 6, channels), dtype=np.uint8)
    frames = []
    for t in range(n):
        f = bg.copy()
        y, x = 2 + t % (h - 8), 1 + (2 * t) % (w - 8)
        f[y : y + 6, x : x + 6] = sq
        frames.append(f)
    return np.stack(frames)


@pytest.fixture(scope="module")
def predictors():
    return {name: registry.get(name) for name in LEARNED}


def test_registry_ids_fixed():
    for name, mid in IDS.items():
        assert name in registry.available()
        assert registry.name_for_id(mid) == name


def test_last_frame_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from fpcodec.models import registry; p = registry.get('last-frame'); "
        "import numpy as np; p.predict([np.zeros((4, 4, 3), np.uint8)]); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", LEARNED)
@pytest.mark.parametrize("channels", [3, 4])
def test_predict_shapes_and_determinism(predictors, name, channels):
    p = predictors[name]
    assert p.model_id == IDS[name]
    assert isinstance(p.weights_hash, bytes) and len(p.weights_hash) == 32
    clip = _moving_clip(n=HISTORY + 1, h=19, w=23, channels=channels)
    for n in range(1, HISTORY + 1):
        hist = list(clip[:n])
        a = p.predict(hist)
        b = p.predict(hist)
        assert a.mean.shape == (channels, 19, 23) and a.mean.dtype == np.float32
        assert a.scale.shape == (channels, 19, 23) and a.scale.dtype == np.float32
        assert a.coupling is not None
        assert a.coupling.shape == (3, 19, 23) and a.coupling.dtype == np.float32
        for arr in (a.mean, a.scale, a.coupling):
            assert np.all(np.isfinite(arr))
        assert np.all(a.scale > 0)
        assert np.array_equal(a.mean, b.mean)
        assert np.array_equal(a.scale, b.scale)
        assert np.array_equal(a.coupling, b.coupling)


@pytest.mark.parametrize("name", LEARNED)
def test_static_video_is_nearly_free(predictors, name):
    """An unchanged frame must cost almost nothing (static regions dominate GIFs)."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    pred = predictors[name].predict([frame] * HISTORY)
    x = np.moveaxis(frame, -1, 0)
    bits = 0.0
    for c in range(3):
        m = apply_coupling(pred.mean, pred.coupling, c, x)
        bits += laplace_bits(x[c], quantize_mean(m), quantize_scale(pred.scale[c])).sum()
    assert bits / x.size < 0.5


def test_loss_matches_codec_code_length():
    from fpcodec.models.training.loss import code_length

    rng = np.random.default_rng(0)
    shape = (2, 3, 16, 16)
    x = rng.integers(0, 256, shape)
    mean_q = np.clip(np.rint((x + rng.laplace(0, 3, shape)) * MEAN_STEPS), 0, 255 * MEAN_STEPS)
    scale_idx = rng.integers(0, len(SCALE_TABLE), shape)
    # Couplings in {-1, 0, 1, 0.5}: conditioned means stay on the 1/16 grid when clamped.
    coupling = rng.choice([-1.0, 0.0, 0.5, 1.0], (2, 3, 16, 16))
    mean = mean_q / MEAN_STEPS
    scale = SCALE_TABLE[scale_idx]

    ref = 0.0
    for b in range(2):
        for c in range(3):
            m = apply_coupling(mean[b].astype(np.float32), coupling[b].astype(np.float32), c, x[b])
            ref += laplace_bits(x[b, c], quantize_mean(m), quantize_scale(scale[b, c])).sum()
    got = (
        code_length(
            torch.tensor(x, dtype=torch.float32),
            torch.tensor(mean, dtype=torch.float32),
            torch.tensor(scale, dtype=torch.float32),
            torch.tensor(coupling, dtype=torch.float32),
        )
        .double()
        .sum()
        .item()
    )
    assert abs(got - ref) <= 1e-3 * ref

    # Element-wise, without coupling, over the whole grid range including both clipped tails.
    x1 = rng.integers(0, 256, 4096)
    x1[:8] = [0, 0, 255, 255, 0, 255, 1, 254]
    mq = rng.integers(0, 255 * MEAN_STEPS + 1, 4096)
    si = rng.integers(0, len(SCALE_TABLE), 4096)
    ref1 = laplace_bits(x1, mq, si)
    got1 = (
        code_length(
            torch.tensor(x1, dtype=torch.float32).reshape(1, 1, 64, 64),
            torch.tensor(mq / MEAN_STEPS, dtype=torch.float32).reshape(1, 1, 64, 64),
            torch.tensor(SCALE_TABLE[si], dtype=torch.float32).reshape(1, 1, 64, 64),
            None,
        )
        .double()
        .numpy()
        .ravel()
    )
    assert np.allclose(got1, ref1, rtol=1e-3, atol=1e-4)


def test_loss_gradients_finite_everywhere():
    from fpcodec.models.training.loss import laplace_bits_torch

    x = torch.tensor([0.0, 255.0, 0.0, 255.0, 100.0, 100.0, 3.0])
    mean = torch.tensor([255.0, 0.0, 0.0, 255.0, 100.2, 0.0, 200.0], requires_grad=True)
    scale = torch.tensor([0.04, 0.04, 160.0, 160.0, 0.04, 0.04, 1.0], requires_grad=True)
    bits = laplace_bits_torch(x, mean, scale)
    assert torch.all(bits <= 24.0) and torch.all(bits >= 0)
    bits.sum().backward()
    assert torch.all(torch.isfinite(mean.grad)) and torch.all(torch.isfinite(scale.grad))


def test_palette_loss_matches_codec_rows():
    """The palette loss's row is the codec's palette row (``colour_weights``): on-grid means,
    scales and couplings give each pixel's true colour the probability the coder gives it, up to
    the coder's integer frequencies, and the loss is the row mixed with the previous colour at the
    cheapest ``MIX_TABLE`` weight."""
    from fpcodec.codec.palette_coding import MIX_TABLE, true_probabilities
    from fpcodec.models.training.loss import palette_code_length, palette_row_log_prob, palette_targets

    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (20, 3))
    idx = rng.integers(0, 20, (2, 12, 12))
    x = palette[idx].transpose(0, 3, 1, 2)  # (B, 3, H, W)
    mean_q = np.clip(np.rint((x + rng.laplace(0, 6, x.shape)) * MEAN_STEPS), 0, 255 * MEAN_STEPS).astype(
        np.int32
    )
    scale_idx = rng.integers(20, 40, x.shape)
    coupling_q = quantize_coupling(rng.choice([-0.5, 0.0, 0.25, 0.5], x.shape))
    tensors = [torch.tensor(a, dtype=torch.float32) for a in (x, mean_q / MEAN_STEPS, SCALE_TABLE[scale_idx])]
    coupling = torch.tensor(coupling_q / 256.0, dtype=torch.float32)
    previous = tensors[0].clone()
    previous[:, :, :6] = 255 - previous[:, :, :6]  # half the pixels keep their colour
    pal, real, index, prev_index = palette_targets(tensors[0], previous)
    assert real.sum(1).tolist() == [len(np.unique(idx[b])) for b in range(2)]
    got = palette_row_log_prob(*tensors[1:], coupling, pal, real, index).double().numpy()
    for b in range(2):
        pal_b = pal[b][real[b]].numpy().astype(np.uint8)
        want = true_probabilities(
            mean_q[b].reshape(3, -1),
            coupling_q[b].reshape(3, -1),
            scale_idx[b].reshape(3, -1),
            pal_b,
            index[b].numpy().ravel(),
        )
        # The coder truncates its integer products (up to a few % on small ones); a wrong row
        # (no floor, coupling to the true colour) is off by 0.3-0.9 on many pixels.
        diff = np.abs(np.exp(got[b].ravel()) - want)
        assert diff.max() < 0.06 and diff.mean() < 0.01
    # The mixed loss: the cheapest MIX_TABLE weight of the row and the previous colour.
    bits = palette_code_length(*tensors, coupling, previous).double().numpy()
    row = np.exp(got)
    same = (prev_index == index).numpy()
    has = (prev_index >= 0).numpy()  # a previous colour outside the palette: the row alone
    assert has.mean() < 0.9
    for b in range(2):
        costs = []
        for w in MIX_TABLE:
            mixed = np.where(same[b], w + (1 - w) * row[b], (1 - w) * row[b])
            costs.append(-np.log2(np.where(has[b], mixed, row[b])).mean())
        assert bits[b] == pytest.approx(min(costs), rel=1e-4)
        assert min(costs) < costs[0]  # the previous colour helps here


def _short_run(name, out, clips, **options):
    """30 steps from scratch on tiny clips, validated on the first."""
    from fpcodec.models.training.train import train

    return train(
        [],
        name,
        out,
        clips=clips,
        val_clips=clips[:1],
        steps=30,
        steps_per_epoch=15,
        crop=16,
        batch=4,
        lr=5e-3,
        seed=0,
        progress=False,
        log=lambda *a: None,
        **options,
    )


def test_training_lowers_palette_loss(tmp_path):
    """``loss="palette"`` trains on the palette code length: a short run from scratch on tiny
    palettized clips lowers it on their frames, and the file records the loss."""
    from safetensors import safe_open

    from fpcodec.models.training.data import most_colours
    from fpcodec.models.training.train import train

    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (12, 3), dtype=np.uint8)
    clips = [palette[_moving_clip(n=10, h=24, w=24, channels=1, seed=s)[..., 0] % 12] for s in range(3)]
    out = tmp_path / "w.safetensors"
    summary = _short_run("convlstm-hybrid", out, clips, loss="palette")
    assert summary["loss"] == "palette"
    assert summary["best_val_bits"] < summary["initial_val_bits"]
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["loss"] == "palette"
    # A clip of more colours is left out, and said so; with nothing else left, training is refused.
    said = []
    many = _moving_clip(n=4, h=24, w=24)
    assert most_colours(many) > 256
    summary = train(
        [],
        "convlstm-hybrid",
        out,
        clips=[many, clips[0]],
        steps=1,
        crop=16,
        batch=1,
        progress=False,
        loss="palette",
        log=said.append,
        init=None,
    )
    assert summary["steps"] == 1 and any("left out 1 training clips" in line for line in said)
    with pytest.raises(ValueError, match="at most 256 colours"):
        train(
            [],
            "convlstm-hybrid",
            out,
            clips=[many],
            steps=1,
            crop=20,
            batch=1,
            progress=False,
            loss="palette",
            log=lambda *a: None,
        )


@pytest.mark.parametrize("name", ["conv2d", "convlstm-hybrid"])
def test_training_lowers_loss(tmp_path, name):
    from fpcodec.models.training.train import train

    clips = [_moving_clip(n=10, h=24, w=24, seed=s) for s in range(3)]
    out = tmp_path / "w.safetensors"
    summary = _short_run(name, out, clips)
    assert out.is_file()
    assert summary["steps"] == 30
    assert summary["best_val_bits"] < summary["initial_val_bits"]
    # The shipped file loads into a predictor.
    pred = registry.get(name)
    other = type(pred)(weights=out)
    assert other.weights_hash == hashlib.sha256(out.read_bytes()).digest()
    # Resume continues from the checkpoint.
    summary2 = train(
        [],
        name,
        out,
        clips=clips,
        steps=35,
        steps_per_epoch=5,
        crop=16,
        batch=4,
        seed=0,
        progress=False,
        log=lambda *a: None,
        resume=out.with_name("w.ckpt.json"),
    )
    assert summary2["steps"] == 35


def test_weights_hash_follows_file(tmp_path, predictors):
    from safetensors.torch import load_file, save_file

    name = "conv2d"
    p = predictors[name]
    shipped = Path(p.weights_file)
    assert p.weights_hash == hashlib.sha256(shipped.read_bytes()).digest()
    state = load_file(str(shipped))
    key = sorted(state)[0]
    state[key] = state[key] + 1e-3
    changed = tmp_path / "changed.safetensors"
    save_file(state, str(changed))
    q = type(p)(weights=changed)
    assert q.weights_hash != p.weights_hash
    assert q.weights_hash == hashlib.sha256(changed.read_bytes()).digest()


def test_missing_weights_is_a_clear_error(tmp_path):
    from fpcodec.bitstream.errors import WeightsMissingError
    from fpcodec.models.learned import Conv2DPredictor

    missing = tmp_path / "nope.safetensors"
    with pytest.raises(WeightsMissingError, match="nope.safetensors"):
        Conv2DPredictor(weights=missing)
    from fpcodec.bitstream.errors import FpcodecError

    assert issubclass(WeightsMissingError, FpcodecError)


# ------------------------------------------------------------------------------ through the codec
CARPHONE = DATA / "carphone_000.gif"  # 96x96, 34 frames (see tests/data/ATTRIBUTION.md)


def _carphone(n):
    from fpcodec.models.training.data import read_clip

    return read_clip(CARPHONE)[:n]


@pytest.mark.parametrize("name", LEARNED)
def test_codec_round_trip(name):
    codec = pytest.importorskip("fpcodec.codec")
    clips = [
        # Palettized GIF frames (palette modes driven by the model's prediction).
        list(_carphone(6)[:, 20:68, 24:64]),
        # More than 256 colours with alpha: RGB inter coding with coupling, alpha from last-frame.
        list(_moving_clip(n=7, h=21, w=26, channels=4, seed=3)),
    ]
    for frames in clips:
        data = codec.encode(frames, model=name)
        video = codec.decode(data)
        assert video.model == name
        assert len(video.frames) == len(frames)
        for a, b in zip(frames, video.frames, strict=True):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("name", ["conv2d", "convlstm-hybrid"])
def test_payload_matches_code_length(name, predictors):
    """The coder spends what the model's code length says (RGB inter frames, 96x96, 21 frames)."""
    import io

    pytest.importorskip("fpcodec.codec")
    from fpcodec.codec.frame_coding import MODE_INTER
    from fpcodec.codec.pipeline import Encoder

    frames = _carphone(21)
    pred_model = predictors[name]
    buf = io.BytesIO()
    payload_bits = ideal_bits = 0.0
    inter = 0
    with Encoder(buf, width=96, height=96, channels=3, model=pred_model) as enc:
        enc.use_palette = False
        for t, frame in enumerate(frames):
            coded = enc.write(frame)
            if coded.mode != MODE_INTER:
                continue
            inter += 1
            pred = pred_model.predict(list(frames[max(0, t - HISTORY) : t]))
            x = np.moveaxis(frame, -1, 0)
            for c in range(3):
                m = coupled_mean_q(quantize_mean(pred.mean), quantize_coupling(pred.coupling), c, x)
                s = np.clip(quantize_scale(pred.scale[c]) + coded.scale_shift, 0, len(SCALE_TABLE) - 1)
                ideal_bits += laplace_bits(x[c], m, s).sum()
            payload_bits += 8 * len(coded.payload)
    assert inter >= 15
    assert abs(payload_bits - ideal_bits) <= 0.01 * ideal_bits
