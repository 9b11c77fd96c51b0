"""The machine's lack of memory is said as such: the payload decoders, which call any other error
of a payload a damaged stream, pass it on, and the CLI says "out of memory" in one line."""

import errno
import io

import numpy as np
import pytest
from conftest import DATA

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError, out_of_memory
from fpcodec.codec import pipeline
from fpcodec.codec.cli import main
from fpcodec.codec.modes import palette, planar

ENOMEM = OSError(errno.ENOMEM, "Cannot allocate memory")
NO_THREAD = RuntimeError("can't start new thread")
#: numba's helpers, loaded on a kernel's first call, under ``ulimit -v 400000`` (as it was said)
UNMAPPED = ImportError(
    "/venv/lib/python3.11/site-packages/numba/_helperlib.cpython-311-x86_64-linux-gnu.so: "
    "failed to map segment from shared object"
)
ERRORS = [MemoryError("no room"), ENOMEM, NO_THREAD, UNMAPPED, ValueError("bad words")]
IDS = ["memory", "enomem", "thread", "unmapped", "other"]
SAID = "no room|memory|thread|segment|could not be"


def test_out_of_memory_is_a_memory_error_or_enomem() -> None:
    assert out_of_memory(MemoryError()) and out_of_memory(ENOMEM) and out_of_memory(NO_THREAD)
    assert out_of_memory(UNMAPPED) and out_of_memory(ImportError(f"{UNMAPPED}: Cannot allocate memory"))
    assert not out_of_memory(OSError(errno.ENOENT, "No such file")) and not out_of_memory(ValueError())
    assert not out_of_memory(RuntimeError("another")) and not out_of_memory(
        ImportError("No module named 'x'")
    )
    assert not out_of_memory(ImportError(f"{UNMAPPED}: Operation not permitted"))  # a noexec mount


def _decode(data: bytes) -> None:
    list(pipeline.Decoder(io.BytesIO(data)))


def _raising(exc: Exception):
    def fail(*args, **kwargs):
        raise exc

    return fail


def _palette_stream() -> bytes:
    rng = np.random.default_rng(0)
    table = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    frames = [table[rng.integers(0, 6, (12, 10))] for _ in range(2)]
    return pipeline.encode(frames, model="last-frame")


@pytest.mark.parametrize("exc", ERRORS, ids=IDS)
def test_a_palette_frames_decoder_passes_on_the_lack_of_memory(monkeypatch, exc) -> None:
    data = _palette_stream()
    monkeypatch.setattr(palette, "code_passes", _raising(exc))
    with pytest.raises(type(exc) if out_of_memory(exc) else FormatError, match=SAID):
        _decode(data)


@pytest.mark.parametrize("exc", ERRORS, ids=IDS)
def test_a_palette_chunks_decoder_passes_on_the_lack_of_memory(monkeypatch, exc) -> None:
    data = _palette_stream()
    monkeypatch.setattr(entropy.FrameDecoder, "decode_signed", _raising(exc))
    with pytest.raises(type(exc) if out_of_memory(exc) else FormatError, match=SAID):
        _decode(data)


@pytest.mark.parametrize("exc", ERRORS, ids=IDS)
def test_a_planar_frames_decoder_passes_on_the_lack_of_memory(monkeypatch, exc) -> None:
    data = (DATA / "v10_planar.fpc").read_bytes()
    monkeypatch.setattr(planar, "decode", _raising(exc))
    with pytest.raises(type(exc) if out_of_memory(exc) else FormatError, match=SAID):
        _decode(data)


@pytest.mark.parametrize("exc", ERRORS[:4], ids=IDS[:4])
def test_the_cli_says_out_of_memory_when_decoding(monkeypatch, tmp_path, capsys, exc) -> None:
    stream = tmp_path / "s.fpc"
    stream.write_bytes(_palette_stream())
    monkeypatch.setattr(palette, "code_passes", _raising(exc))
    assert main(["decode", "-q", str(stream), "-o", str(tmp_path / "out.gif")]) == 1
    err = capsys.readouterr().err
    assert err == "fpcodec: error: out of memory (frames of this size need more than is free)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.fpc"]
