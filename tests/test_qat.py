"""Quantization-aware fine-tuning (models/training/qat.py): the fake-quantized float network computes what
the converted integer network computes, gradients still reach the float weights, and training with
``qat=True`` writes a plain float weights file that ``ptq.convert`` takes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fpcodec.bitstream import entropy  # noqa: E402
from fpcodec.models import integer, learned  # noqa: E402
from fpcodec.models.training import ptq, qat  # noqa: E402
from fpcodec.models.training.data import load_clips  # noqa: E402
from fpcodec.models.training.train import train  # noqa: E402
from fpcodec.models.weights import shipped_path  # noqa: E402

from conftest import CARPHONE  # noqa: E402

NAME = "convlstm-hybrid"


@pytest.fixture(scope="module")
def calib_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    shutil.copy(CARPHONE, d / "carphone_000.gif")
    return d


def _shipped_net():
    net = learned.build_net(NAME)
    learned.load_weights(net, shipped_path(NAME))
    return net.eval()


def _ints(net, hist):
    frames, valid = learned.window_from_history(hist)
    with torch.no_grad():
        mean, scale, coupling = learned.forward_params(net, frames, valid)
    return (
        np.rint(mean[0].numpy() * 16).astype(np.int64),
        entropy.quantize_scale(scale[0].numpy()),
        entropy.quantize_coupling(coupling[0].numpy()),
    )


def test_fake_quantized_net_computes_the_integer_nets_outputs(calib_dir, tmp_path):
    """Calibrated on the same windows, the fake-quantized float net and the converted integer net
    agree on nearly every mean (1/16), coupling (1/256) and scale index; the plain float net
    agrees less. What remains is the ConvLSTM's floor-for-round and the head's lookup tables."""
    torch.set_num_threads(1)
    path = ptq.convert(
        NAME, out=tmp_path / "int.safetensors", calib_dirs=[calib_dir], n_clips=1, per_clip=3, crop=96
    )
    int_model = integer.ConvLSTMHybridIntPredictor(weights=path)
    net = _shipped_net()
    plain = _shipped_net()
    windows = ptq.corpus_calibration_windows([calib_dir], 1, 3, 96, 0)
    fake = qat.FakeQuant.from_windows(NAME, net, windows)
    clip = load_clips([calib_dir / "carphone_000.gif"])[0]
    agree = {"fake": np.zeros(3), "plain": np.zeros(3)}
    total = 0
    for t in (1, 2, 5, 13, 29):
        hist = list(clip[max(0, t - 5) : t, :48, :64])
        want = int_model.predict_ints(hist)
        total += want[0].size
        for key, model in (("fake", net), ("plain", plain)):
            agree[key] += [(a == b).sum() for a, b in zip(_ints(model, hist), want, strict=True)]
    fake_share, plain_share = agree["fake"] / total, agree["plain"] / total
    assert fake_share[0] >= 0.999 and fake_share[1] >= 0.97 and fake_share[2] >= 0.95, fake_share
    assert fake_share[0] > plain_share[0] and fake_share[2] > plain_share[2], (fake_share, plain_share)
    fake.remove()
    hist = list(clip[:5, :48, :64])
    assert all(np.array_equal(a, b) for a, b in zip(_ints(net, hist), _ints(plain, hist), strict=True))


def test_gradients_pass_through_the_rounding(calib_dir):
    net = _shipped_net()
    windows = list(ptq.corpus_calibration_windows([calib_dir], 1, 2, 32, 0))
    fake = qat.FakeQuant.from_windows(NAME, net, windows)
    frames, valid = windows[0]
    mean, scale, coupling = learned.forward_params(net, frames, valid)
    (mean.sum() + scale.log().sum() + coupling.sum()).backward()
    for ln, _, _ in ptq.layers(NAME):
        grad = net.get_submodule(ln).weight.grad
        assert grad is not None and grad.abs().sum() > 0, ln
    fake.remove()


def test_qat_training_writes_plain_float_weights(calib_dir, tmp_path):
    clip = load_clips([calib_dir / "carphone_000.gif"])[0][:8, :32, :32]
    out = tmp_path / "qat.safetensors"
    summary = train(
        [],
        NAME,
        out,
        steps=3,
        steps_per_epoch=3,
        crop=32,
        batch=2,
        lr=1e-3,
        clips=[clip],
        val_clips=[clip],
        init=shipped_path(NAME),
        qat=True,
        progress=False,
        threads=1,
        log=lambda *_: None,
    )
    assert summary["steps"] == 3
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        assert f.metadata()["qat"] == "1"
        keys = set(f.keys())
    assert keys == set(_shipped_net().state_dict())
    trained = learned.build_net(NAME)
    learned.load_weights(trained, out)
    shipped = _shipped_net().state_dict()
    changed = any(not torch.equal(v, shipped[k]) for k, v in trained.state_dict().items())
    # Fine-tuning: the starting weights are the score to beat and stay the output until beaten.
    assert summary["best_val_bits"] <= summary["initial_val_bits"]
    assert changed == (summary["best_val_bits"] < summary["initial_val_bits"])
    ptq.convert(
        NAME,
        weights=out,
        out=tmp_path / "qat-int.safetensors",
        calib_dirs=[calib_dir],
        n_clips=1,
        per_clip=2,
        crop=32,
    )
