"""Small calls of the compiled kernels run their one-thread twins (``table_kernel.serial_twin``),
large ones the parallel kernels: the streams and the decoded frames must not depend on which ran."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import table_kernel
from fpcodec.codec import Decoder, encode
from fpcodec.codec import rows_kernel, weight_kernel
from fpcodec.codec.io import VideoReader

DATA = Path(__file__).parent / "data"


def _frames(name: str, n: int) -> list[np.ndarray]:
    return [f for f, _ in VideoReader(DATA / name).frames()][:n]


@pytest.mark.parametrize("clip", ["jmeter_url_rewrite.gif", "carphone_000.gif"])
def test_the_twins_and_the_parallel_kernels_code_the_same_streams(monkeypatch, clip):
    frames = _frames(clip, 4)
    monkeypatch.setattr(table_kernel, "SERIAL_ITEMS", 0)  # every call parallel
    parallel = encode(frames, model="convlstm-hybrid-pal-int")
    monkeypatch.setattr(table_kernel, "SERIAL_ITEMS", 1 << 62)  # every call on one thread
    assert encode(frames, model="convlstm-hybrid-pal-int") == parallel
    monkeypatch.setattr(table_kernel, "SERIAL_ITEMS", 0)  # decoded in the other way
    decoded = [d.pixels for d in Decoder(io.BytesIO(parallel))]
    assert all(np.array_equal(d, f) for d, f in zip(decoded, frames, strict=True))


def test_a_planar_stream_is_the_same_from_either_kernels(monkeypatch, tmp_path):
    """The planar rule's kernels and the entropy tables' rows have twins too."""
    from fpcodec.codec.cli import main

    def planar_stream(name: str) -> bytes:
        out = tmp_path / name
        assert main(["encode", str(DATA / "carphone_yuv420p_64x48.mkv"), "-o", str(out), "-q"]) == 0
        return out.read_bytes()

    monkeypatch.setattr(table_kernel, "SERIAL_ITEMS", 0)
    parallel = planar_stream("parallel.fpc")
    monkeypatch.setattr(table_kernel, "SERIAL_ITEMS", 1 << 62)
    assert planar_stream("serial.fpc") == parallel


def test_a_twin_is_compiled_for_one_thread_and_cached_apart():
    for kernel, twin in (
        (rows_kernel._true_counts, rows_kernel._true_counts_serial),
        (weight_kernel._weights, weight_kernel._weights_serial),
        (table_kernel._table_rows, table_kernel._table_rows_serial),
    ):
        assert kernel.targetoptions.get("parallel") and not twin.targetoptions.get("parallel")
        assert twin.py_func.__code__ is kernel.py_func.__code__
        assert twin.py_func.__qualname__ == kernel.py_func.__qualname__ + "_serial"
    assert table_kernel.for_size("k", "t", table_kernel.SERIAL_ITEMS - 1) == "t"
    assert table_kernel.for_size("k", "t", table_kernel.SERIAL_ITEMS) == "k"
