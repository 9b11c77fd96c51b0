"""The numpy backend's convolutions as compiled kernels that call BLAS (models/conv_kernel.py):
the same integers as the GEMMs called from Python (``integer_numpy.NumpyConv``'s other path) for
every geometry the networks use (3x3, stride 2, 1x1, Conv3D's stacked frames), band size, thread
count and input layout; shapes and layouts that the kernels would read unchecked are refused."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fpcodec.models import conv_kernel, integer_numpy, registry
from fpcodec.models.integer_numpy import NumpyConv
from fpcodec.models.integer_spec import IntLayer

pytestmark = pytest.mark.skipif(not conv_kernel.available(), reason="numpy has no 64-bit CBLAS here")


def _layer(rng, out_ch: int, in_ch: int, kernel: int, stride: int, padding: int) -> IntLayer:
    """A random integer layer: weights, bias and shifts as the quantizer makes them (small enough
    for the checked bound with inputs of +-255)."""
    return IntLayer(
        name="t",
        weight=rng.integers(-127, 128, (out_ch, in_ch, kernel, kernel)).astype(np.float64),
        bias=rng.integers(-5000, 5000, out_ch).astype(np.float64),
        shift=rng.integers(0, 9, out_ch),
        lo=(-255,) * out_ch,
        hi=(255,) * out_ch,
        in_max=np.full(in_ch, 255.0),
        bound=1 << 24,
        stride=(stride, stride),
        padding=(padding, padding),
    )


def _both(monkeypatch, call):
    """``call()`` through the BLAS kernels and through the GEMMs called from Python."""
    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", True)
    a = call()
    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", False)
    b = call()
    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", True)
    return a, b


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (3, 2, 1), (1, 1, 0), (5, 1, 2), (3, 2, 0)])
@pytest.mark.parametrize("band_floats", [1, 7, integer_numpy._BAND_FLOATS])
def test_conv_gives_the_python_gemms_integers(monkeypatch, kernel, stride, padding, band_floats):
    """Requantized and plain sums, with and without added sums, of inputs in both layouts (a
    plain (N, C, H, W) array and a transposed view of the rows layout), odd sizes and one-row
    bands included, on one thread and on all."""
    monkeypatch.setattr(integer_numpy, "_BAND_FLOATS", band_floats)
    rng = np.random.default_rng(kernel * 10 + stride + band_floats)
    conv = NumpyConv(_layer(rng, 6, 5, kernel, stride, padding))
    for n, h, w in ((1, 1, 1), (2, 7, 5), (1, 12, 9), (3, 5, 16)):
        if (h + 2 * padding - kernel) < 0 or (w + 2 * padding - kernel) < 0:
            continue
        x = rng.integers(-255, 256, (n, 5, h, w)).astype(np.float32)
        views = (x, np.ascontiguousarray(x.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3))
        ho, wo = conv._out_size(h, w)
        plus = rng.integers(-1000, 1000, (n, 6, ho, wo)).astype(np.float32)
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            try:
                for xv in views:
                    for extra in (None, plus):
                        for requantized in (True, False):
                            a, b = _both(
                                monkeypatch, lambda x=xv, e=extra, r=requantized: conv.products(x, 0, e, r)
                            )
                            assert a.shape == b.shape == (n, 6, ho, wo)
                            assert np.array_equal(a, b), (n, h, w, threads, requantized)
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_lstm_steps_give_the_python_gemms_integers(monkeypatch):
    """The default model's ConvLSTM cell: a window's first step (no hidden state, no cell) and the
    later ones, in bands of one row and of the default size."""
    conv = registry.get(registry.DEFAULT_MODEL).net.layers["cell.conv"]
    rng = np.random.default_rng(5)
    for band_floats in (1, integer_numpy._BAND_FLOATS):
        monkeypatch.setattr(integer_numpy, "_BAND_FLOATS", band_floats)
        for n, h, w in ((1, 1, 1), (2, 6, 5), (1, 13, 24)):
            state_a = state_b = None
            for _ in range(3):
                x = rng.integers(0, 256, (n, 16, h, w)).astype(np.float32)
                from_x = conv.products(x)

                def step(state, from_x=from_x):
                    h_prev, c_prev = (None, None) if state is None else state
                    return conv.lstm_step(from_x, h_prev, 16, c_prev)

                monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", True)
                state_a = step(state_a)
                monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", False)
                state_b = step(state_b)
                monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", True)
                for a, b in zip(state_a, state_b, strict=True):
                    assert np.array_equal(a, b), (n, h, w, band_floats)
                assert np.abs(state_a[0]).max() > 0  # the steps did something


@pytest.mark.parametrize("name", ["conv3d-hybrid-int", registry.DEFAULT_MODEL, "convlstm-unet-int"])
def test_networks_give_the_same_predictions_either_way(monkeypatch, name):
    """Whole forward passes (Conv3D's stacked frames, the hybrid's stride-2 encoder and cell, the
    U-Net's pooled cells): the same integer planes through either path."""
    from fpcodec.models.weights import shipped_path

    if not shipped_path(name).is_file():
        pytest.skip(f"{name} is not shipped")
    rng = np.random.default_rng(8)
    base = rng.integers(0, 256, (37, 29, 3))
    hist = [np.clip(base + rng.integers(-9, 10, base.shape) * k, 0, 255).astype(np.uint8) for k in range(5)]

    def predict():
        return registry.get(name).predict_ints(hist)  # a fresh predictor: no step memo shared

    a, b = _both(monkeypatch, predict)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_kernels_refuse_what_they_would_read_unchecked():
    rng = np.random.default_rng(2)
    weights = rng.integers(-9, 10, (3, 4, 3 * 5)).astype(np.float32)
    params = tuple(np.zeros(4, np.float32) for _ in range(4))
    geometry = (3, 3, 1, 1, 1)
    x = np.zeros((1, 6, 5, 7), np.float32)  # (N, H, C, W)
    out = np.empty((1, 6, 4, 7), np.float32)
    conv_kernel.conv(x, weights, geometry, 2, None, params, out)  # the right shapes run
    with pytest.raises(ValueError, match="a conv of"):
        conv_kernel.conv(x, weights, geometry, 2, None, params, np.empty((1, 6, 4, 6), np.float32))
    with pytest.raises(ValueError, match="a conv of"):
        conv_kernel.conv(np.zeros((1, 6, 4, 7), np.float32), weights, geometry, 2, None, params, out)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        conv_kernel.conv(x.astype(np.float64), weights, geometry, 2, None, params, out)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        conv_kernel.conv(
            np.zeros((1, 6, 7, 5), np.float32).transpose(0, 1, 3, 2), weights, geometry, 2, None, params, out
        )
    with pytest.raises(ValueError, match="added to"):
        conv_kernel.conv(x, weights, geometry, 2, out[:, :5], params, out)
    with pytest.raises(ValueError, match="bands of 0 rows"):
        conv_kernel.conv(x, weights, geometry, 0, None, params, out)
    with pytest.raises(ValueError, match="requantization parameters"):
        conv_kernel.conv(x, weights, geometry, 2, None, params[:3] + (np.zeros(3, np.float32),), out)
    h = np.empty((1, 6, 1, 7), np.float32)
    conv_kernel.lstm(None, weights, geometry, 2, out, params, None, h, h.copy())  # the right shapes
    wide = np.empty((1, 6, 2, 7), np.float32)
    with pytest.raises(ValueError, match="ConvLSTM step"):
        conv_kernel.lstm(None, weights, geometry, 2, out, params, None, wide, wide.copy())
    with pytest.raises(ValueError, match="requantization parameters"):  # the gates: 4 x 1 channels
        conv_kernel.lstm(
            None, weights, geometry, 2, out, params[:3] + (np.zeros(3, np.float32),), None, h, h.copy()
        )
    with pytest.raises(ValueError, match="cell state"):
        conv_kernel.lstm(None, weights, geometry, 2, out, params, h[:, :5].copy(), h, h.copy())
    with pytest.raises(ValueError, match="a conv of"):  # a hidden state the gates' conv does not fit
        conv_kernel.lstm(
            np.zeros((1, 6, 2, 7), np.float32), weights, geometry, 2, out, params, None, h, h.copy()
        )


def test_a_forward_pass_holds_openblas_at_one_thread(monkeypatch):
    """Each of numba's threads calls OpenBLAS for its band's GEMMs: OpenBLAS's own threads are held
    at one inside a forward pass, whatever the caller set, and given back after it."""
    import threadpoolctl

    lib = conv_kernel._library()[0]
    seen = []
    real = conv_kernel.conv

    def spy(*args, **kwargs):
        seen.append(lib.num_threads)
        return real(*args, **kwargs)

    monkeypatch.setattr(conv_kernel, "conv", spy)
    hist = [np.full((20, 24, 3), 40 * k, np.uint8) for k in range(3)]
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        registry.get(registry.DEFAULT_MODEL).predict_ints(hist)
        assert lib.num_threads == 2
    assert seen and set(seen) == {1}
