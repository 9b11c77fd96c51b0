"""codec.threads: BLAS is held at one thread while a frame is coded, and given back afterwards."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl

from fpcodec.codec import threads
from fpcodec.codec.pipeline import decode, encode


@functools.cache
def _numpy_blas() -> frozenset[str]:
    """The BLAS libraries numpy itself loads (a fresh interpreter that imports only numpy): the
    suite loads others later (torch, scipy), which the codec does not call."""
    code = (
        "import json, numpy, threadpoolctl; "
        "print(json.dumps([p['filepath'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return frozenset(os.path.realpath(p) for p in json.loads(out))


def _blas_threads() -> list[int]:
    """numpy's BLAS libraries' thread counts."""
    info = threadpoolctl.threadpool_info()
    return [p["num_threads"] for p in info if os.path.realpath(p["filepath"]) in _numpy_blas()]


def test_one_blas_thread_inside_and_restored_after():
    np.ones((64, 64)) @ np.ones((64, 64))  # numpy's BLAS is loaded
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert before and all(n == 2 for n in before)
        seen = threads.one_blas_thread(_blas_threads)()
        assert seen == [1] * len(before)
        assert _blas_threads() == before


@pytest.mark.parametrize("blas_kernels", [True, False])
def test_coding_a_frame_runs_with_one_blas_thread(monkeypatch, blas_kernels):
    """The network's GEMMs, called from Python (``np.matmul``) or from the compiled kernels
    (``conv_kernel``), in the encoder and the decoder."""
    from fpcodec.models import conv_kernel, integer_numpy

    if blas_kernels and not conv_kernel.available():
        pytest.skip("numpy has no 64-bit CBLAS here")
    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", blas_kernels)
    seen = []

    def spy(real):
        def call(*args, **kwargs):
            seen.append(_blas_threads())
            return real(*args, **kwargs)

        return call

    if blas_kernels:
        monkeypatch.setattr(conv_kernel, "conv", spy(conv_kernel.conv))
        monkeypatch.setattr(conv_kernel, "lstm", spy(conv_kernel.lstm))
    else:
        monkeypatch.setattr(integer_numpy.np, "matmul", spy(np.matmul))
    frames = np.random.default_rng(0).integers(0, 4, (3, 8, 8, 3), dtype=np.uint8) * 60
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        video = decode(encode(list(frames), model="convlstm-hybrid-int"))
        assert all(n == 2 for n in _blas_threads())
    assert seen and all(s and set(s) == {1} for s in seen)  # the network's GEMMs, encoder and decoder
    assert np.array_equal(np.stack(video.frames), frames)


@pytest.mark.parametrize("blas_kernels", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (9, 7), (96, 96), (113, 200)])
def test_convolution_threads_do_not_change_the_integers(monkeypatch, size, blas_kernels):
    """The GEMMs split over threads (bands of output rows: the conv pool's, or numba's for the
    compiled kernels) give the integers of one thread."""
    import numba

    from fpcodec.models import integer_numpy, registry

    monkeypatch.setattr(integer_numpy, "BLAS_KERNELS", blas_kernels)
    pred = registry.get("convlstm-hybrid-int")
    rng = np.random.default_rng(size[0])
    hist = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(5)]
    got = {}
    most = numba.config.NUMBA_NUM_THREADS
    try:
        for workers in (1, 2, 5):
            monkeypatch.setattr(integer_numpy, "_pool_size", lambda w=workers: w)
            numba.set_num_threads(min(workers, most))
            got[workers] = pred.predict_ints(hist)
    finally:
        numba.set_num_threads(most)
    for workers in (2, 5):
        for a, b in zip(got[1], got[workers], strict=True):
            assert np.array_equal(a, b)


def test_streams_and_frames_do_not_depend_on_the_thread_count(tmp_path):
    """``fpcodec encode`` and ``decode`` of a real clip as processes with one thread and with the
    default (one per core): the same stream bytes and the same decoded frames."""
    clip = os.path.join(os.path.dirname(__file__), "data", "carphonew_000_5f.gif")
    out = {}
    for name, count in (("one", "1"), ("all", None)):
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
        if count:
            env["NUMBA_NUM_THREADS"] = count
        stream, frames = tmp_path / f"{name}.fpc", tmp_path / f"{name}.apng"
        cli = [sys.executable, "-m", "fpcodec.codec.cli"]
        subprocess.run([*cli, "encode", clip, "-o", str(stream), "-q"], env=env, check=True)
        subprocess.run([*cli, "decode", str(stream), "-o", str(frames), "-q"], env=env, check=True)
        out[name] = stream.read_bytes(), frames.read_bytes()
    assert out["one"] == out["all"]


def _predict_in_child(queue) -> None:
    from fpcodec.models import registry

    hist = [np.full((40, 40, 3), 9, np.uint8)] * 3
    queue.put([a.tolist() for a in registry.get("convlstm-hybrid-int").predict_ints(hist)])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_predicts_after_the_parent_used_the_pool():
    """The convolution pool's threads do not survive fork: the child makes its own (and takes the
    GEMMs called from Python: numba's OpenMP threads, which the parent ran, would end it)."""
    import multiprocessing

    from fpcodec.models import integer_numpy, registry

    hist = [np.full((40, 40, 3), 9, np.uint8)] * 3
    want = [a.tolist() for a in registry.get("convlstm-hybrid-int").predict_ints(hist)]
    if integer_numpy._pool_size() < 2:
        pytest.skip("one core: the pool is not used")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_predict_in_child, args=(queue,))
    child.start()
    try:
        got = queue.get(timeout=60)  # a child stuck on the parent's dead pool threads never answers
        child.join(timeout=60)
    finally:
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0 and got == want
