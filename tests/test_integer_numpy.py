"""The numpy backend of the integer predictors (models/integer_numpy.py, issue 15): the same integers
as the torch backend for every architecture, size and history length, and a CLI that encodes and
decodes with the default model without importing torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fpcodec.models import integer, registry  # noqa: E402
from fpcodec.models.integer_numpy import NumpyIntegerNet  # noqa: E402
from fpcodec.models.integer_torch import IntegerNet  # noqa: E402
from fpcodec.models.weights import shipped_path  # noqa: E402

INT_MODELS = [
    n
    for n in ("conv2d-int", "conv3d-hybrid-int", "convlstm-hybrid-int", "convlstm-unet-int")
    if shipped_path(n).is_file()
]
MAIN = registry.DEFAULT_MODEL


@pytest.fixture(scope="module")
def backends():
    """name -> (numpy predictor, torch predictor)."""
    torch.set_num_threads(1)
    out = {}
    for name in INT_MODELS:
        p = registry.get(name)
        out[name] = (p, type(p)(backend="torch"))
    return out


def _history(rng, h: int, w: int, n: int, channels: int = 3) -> list[np.ndarray]:
    """n frames: noise around a random base (large, small and zero differences between frames)."""
    base = rng.integers(0, 256, (h, w, channels))
    frames = [base]
    for k in range(1, n):
        step = (0, 3, 40)[k % 3]
        frames.append(np.clip(frames[-1] + rng.integers(-step, step + 1, base.shape), 0, 255))
    return [f.astype(np.uint8) for f in frames]


def _assert_same(pn, pt, hist) -> None:
    a, b = pn.predict_ints(hist), pt.predict_ints(hist)
    for x, y, what in zip(a, b, ("mean_q", "scale_idx", "coupling_q"), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape == (3, *hist[0].shape[:2])
        assert np.array_equal(x, y), (what, int((x != y).sum()))


@pytest.mark.parametrize("name", INT_MODELS)
def test_numpy_and_torch_backends_give_the_same_integers(backends, name):
    pn, pt = backends[name]
    assert isinstance(pn.net, NumpyIntegerNet) and isinstance(pt.net, IntegerNet)
    assert pn.backend == "numpy" and pt.backend == "torch"
    rng = np.random.default_rng(list(backends).index(name))
    for h, w in ((1, 1), (1, 9), (9, 1), (7, 5), (33, 17)):
        for n in range(1, 6):
            _assert_same(pn, pt, _history(rng, h, w, n))
    for h, w in ((96, 96), (113, 200)):  # 200x113 (W x H)
        for n in (1, 5):
            _assert_same(pn, pt, _history(rng, h, w, n))
    # RGBA history: the networks see RGB; the predictions (alpha from the last-frame rule) agree.
    for h, w, n in ((7, 5, 3), (33, 17, 5)):
        hist = _history(rng, h, w, n, channels=4)
        _assert_same(pn, pt, hist)
        a, b = pn.predict(hist), pt.predict(hist)
        assert a.mean.shape[0] == 4
        for f in ("mean", "scale", "coupling"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f


def test_numpy_ops_match_torch():
    """The array operations of arch.Ops (odd sizes: ceil-mode pooling, non-doubling upsampling)."""
    from fpcodec.models.learned import TorchArrayOps

    rng = np.random.default_rng(0)
    for h, w in ((1, 1), (1, 7), (5, 3), (8, 6), (17, 33)):
        x = rng.integers(-256, 257, (2, 3, h, w)).astype(np.float32)
        pooled = NumpyIntegerNet.max_pool2(x)
        assert np.array_equal(pooled, TorchArrayOps.max_pool2(torch.from_numpy(x)).numpy())
        for size in ((2 * h, 2 * w), (2 * h - 1, 2 * w - 1), (4 * h - 3, 2 * w + 1)):
            size = (max(size[0], 1), max(size[1], 1))
            got = NumpyIntegerNet.upsample_nearest(x, size)
            ref = TorchArrayOps.upsample_nearest(torch.from_numpy(x), size).numpy()
            assert np.array_equal(got, ref), (h, w, size)


def test_backend_choice():
    cls = type(registry.get(MAIN, device="auto"))
    assert registry.get(MAIN, device="auto").backend == "numpy"
    assert cls(device="cpu").backend == "numpy" and cls(device=None).backend == "numpy"
    with pytest.raises(ValueError, match="backend"):
        cls(backend="jax")
    if torch.cuda.is_available():
        assert cls(device="cuda").backend == "torch"
        with pytest.raises(ValueError, match="CPU only"):
            cls(device="cuda", backend="numpy")
    else:  # no GPU: cuda falls back to the CPU, where the default backend is numpy
        assert cls(device="cuda").backend == "numpy"


def test_numpy_backend_checks_the_bound_at_load_time(tmp_path):
    from safetensors.numpy import save_file

    tensors, meta, _ = integer.load_int_weights(shipped_path(MAIN), framework="numpy")
    tensors = dict(tensors)
    tensors["mid.bias"] = tensors["mid.bias"].copy()
    tensors["mid.bias"][0] = integer.ACC_LIMIT
    bad = tmp_path / "bad-int.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ValueError, match="accumulator bound"):
        type(registry.get(MAIN))(weights=bad)


_NO_TORCH = textwrap.dedent("""
    import sys
    import numpy as np
    from PIL import Image
    from fpcodec.codec.cli import main

    src, out, back = sys.argv[1:4]
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (12, 16, 3))
    frames = [np.clip(base + rng.integers(-d, d + 1, base.shape), 0, 255).astype(np.uint8)
              for d in (0, 4, 9, 2)]
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(src, save_all=True, append_images=ims[1:], duration=40, loop=0)
    assert main(["encode", "-q", "--no-palette", src, "-o", out]) == 0
    assert main(["decode", "-q", out, "-o", back]) == 0
    assert "torch" not in sys.modules, "torch imported"
    assert "fpcodec.codec.planar_coding" not in sys.modules, "the planar coder imported"
    print("ok")
""")


def test_cli_encodes_and_decodes_without_torch(tmp_path, monkeypatch):
    """`fpcodec encode`/`decode` with the default model and device never import torch (nor, for a
    GIF, the planar coder), and the stream is byte for byte the one the torch backend writes."""
    src, out, back = tmp_path / "in.gif", tmp_path / "np.fpc", tmp_path / "np.gif"
    res = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(src), str(out), str(back)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]
    # The same commands in this process with the integer models on the torch backend.
    from fpcodec.codec.cli import main

    get = registry.get

    def get_torch(name, device="cpu", weights=None):
        p = get(name, device, weights)
        return type(p)(weights=weights, backend="torch") if isinstance(p, integer.IntegerPredictor) else p

    monkeypatch.setattr(registry, "get", get_torch)
    out_t, back_t = tmp_path / "torch.fpc", tmp_path / "torch.gif"
    assert main(["encode", "-q", "--no-palette", str(src), "-o", str(out_t)]) == 0
    assert out_t.read_bytes() == out.read_bytes()
    assert main(["decode", "-q", str(out), "-o", str(back_t)]) == 0
    assert back_t.read_bytes() == back.read_bytes()


def _clip(rng, h: int, w: int, n: int) -> list[np.ndarray]:
    """A clip: moving noise, a repeated frame and a still run."""
    base = rng.integers(0, 256, (h + n, w + n, 3))
    frames = [base[k : k + h, k : k + w] for k in range(n)]
    frames[3] = frames[2]  # a repeated frame: its step equals the one before
    frames[-3:] = [frames[-3]] * 3
    return [f.astype(np.uint8) for f in frames]


@pytest.mark.parametrize("name", [n for n in INT_MODELS if "lstm" in n])
def test_step_memo_reuses_steps_and_changes_no_integer(backends, name):
    """The numpy net remembers per-step work (the gates' share of the step's encoder output)
    for the next window: the same integers as the torch backend and as a net without the memo,
    over a clip with a restart (a key frame: the history starts again) and repeated frames; most
    steps after the first windows are found; the memo keeps to its budget."""
    _, pt = backends[name]
    memo = type(pt)()  # numpy backend, a fresh memo
    plain = type(pt)()
    plain.net.memo.budget = 0
    rng = np.random.default_rng(7)
    frames = _clip(rng, 37, 53, 12)
    hits = []  # (frames seen since the restart, steps found)
    for restart in (0, 6):
        history: list[np.ndarray] = []
        for seen, f in enumerate(frames[restart:]):
            history = (history + [f])[-5:]
            before = memo.net.memo.hits
            a, b, c = memo.predict_ints(history), plain.predict_ints(history), pt.predict_ints(history)
            for x, y, z in zip(a, b, c, strict=True):
                assert np.array_equal(x, y) and np.array_equal(x, z)
            hits.append((seen, memo.net.memo.hits - before))
            assert memo.net.memo.held_bytes <= memo.net.memo.budget
    assert plain.net.memo.hits == 0 and plain.net.memo.held_bytes == 0
    cells = len(memo.net._step_cells)
    # A full window slides by one: three of its steps' gates are found again (the oldest has no
    # frame difference: new); a repeated frame or a filling window gives more.
    steady = [h for seen, h in hits if seen >= 5]  # full windows
    assert len(steady) >= 6 and min(steady) >= 3 * cells, hits
    assert max(h for _, h in hits) >= 4 * cells, hits


def test_step_memo_budget():
    """A memo too small for a step holds nothing and reuses nothing; the integers are the same."""
    p, q = registry.get(MAIN), registry.get(MAIN)
    q.net.memo.budget = 1000
    rng = np.random.default_rng(3)
    frames = _clip(rng, 21, 18, 8)
    history: list[np.ndarray] = []
    for f in frames:
        history = (history + [f])[-5:]
        for x, y in zip(p.predict_ints(history), q.predict_ints(history), strict=True):
            assert np.array_equal(x, y)
    assert q.net.memo.hits == 0 and q.net.memo.held_bytes == 0 and p.net.memo.hits > 0


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("name", INT_MODELS)
def test_bands_of_one_row_give_the_same_integers(backends, monkeypatch, name, blas):
    """A conv's output rows are computed in bands, each from its own zero-padded copy of the input
    rows it reads (stride 2 included): bands of a single row, on one thread and on more, give the
    torch backend's integers at sizes where the edges' padding and odd rows meet the bands, both
    through the compiled kernels that call BLAS (numba's threads) and through the GEMMs called
    from Python (the conv pool's threads)."""
    import numba

    from fpcodec.models import conv_kernel, integer_numpy

    if blas and not conv_kernel.available():
        pytest.skip("numpy has no 64-bit CBLAS here")
    _, pt = backends[name]
    fresh = type(pt)()  # numpy backend
    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", blas)
    monkeypatch.setattr(integer_numpy, "_BAND_FLOATS", 1)
    monkeypatch.setattr(integer_numpy, "_THREADED_FROM", 0)  # every conv's bands on the threads
    rng = np.random.default_rng(11)
    most = numba.config.NUMBA_NUM_THREADS
    try:
        for workers, (h, w) in ((1, (1, 1)), (1, (7, 5)), (3, (13, 9)), (3, (24, 17))):
            monkeypatch.setattr(integer_numpy, "_pool_size", lambda w=workers: w)
            numba.set_num_threads(min(workers, most))
            _assert_same(fresh, pt, _history(rng, h, w, 5))
    finally:
        numba.set_num_threads(most)


def test_compiled_passes_get_only_arrays_of_the_bands_shape():
    """The compiled passes read their inputs unchecked: sums or a hidden state of another shape are
    refused before they run."""
    net = registry.get(MAIN).net
    conv = net.layers["cell.conv"]
    x = np.zeros((1, 16, 6, 5), np.float32)
    from_x = conv.products(x)
    assert from_x.shape == (1, 64, 6, 5)
    with pytest.raises(ValueError, match="added to"):
        conv.products(np.zeros((1, 16, 6, 5), np.float32), first=16, plus=from_x[:, :, :5])
    with pytest.raises(ValueError, match="ConvLSTM step"):
        conv.lstm_step(from_x, np.zeros((1, 16, 6, 4), np.float32), 16, None)
    h, c = conv.lstm_step(from_x, None, 16, None)
    assert h.shape == (1, 16, 6, 5) and c.shape == (1, 6, 16, 5)
