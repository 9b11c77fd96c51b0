"""Frame-size limits (issue 17 part 2): Pillow's convention, a warning above 89,478,485 pixels per
frame and a refusal above twice that unless ``--max-pixels`` says otherwise, for the encoder's input
and for a stream's declared size alike; checked before anything is allocated."""

from __future__ import annotations

import io
import warnings

import pytest

from conftest import ODD, dir_listing, patch_header
from fpcodec.bitstream.errors import FormatError, InputError, LargeFrameWarning
from fpcodec.codec import Decoder
from fpcodec.codec.pipeline import MAX_PIXELS, WARN_PIXELS, check_dimensions


def test_limits_follow_pillow():
    from PIL import Image

    assert WARN_PIXELS == 89_478_485 == Image.MAX_IMAGE_PIXELS
    assert MAX_PIXELS == 2 * WARN_PIXELS


def test_a_real_large_gif_frame_passes_without_warning():
    """4304x5157 (22 Mpixels), a real GIF's size, needs no flag and gets no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_dimensions(4304, 5157, None)
        check_dimensions(9459, 9459, None)  # 89,472,681: just under the warning


def test_above_the_warning_size_warns_and_passes():
    with pytest.warns(LargeFrameWarning, match=r"10000x9000 = 90000000 pixels.*--max-pixels"):
        check_dimensions(10000, 9000, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_dimensions(10000, 9000, 10**8)  # an explicit cap is consent: no warning


def test_above_twice_the_warning_size_is_refused_naming_the_flag():
    with pytest.raises(
        InputError,
        match=r"14000x13000 = 182000000 pixels exceeds the limit of "
        r"178956970 \(use --max-pixels to raise it\)",
    ):
        check_dimensions(14000, 13000, None)
    check_dimensions(14000, 13000, 2 * 10**8)  # the flag lifts it
    with pytest.raises(InputError, match="--max-pixels"):
        check_dimensions(100, 100, 9999)  # and lowers it


def test_stream_declaring_a_huge_frame_is_refused_before_decoding(small_stream):
    bad = patch_header(patch_header(small_stream, "width", 14000), "height", 13000)
    with pytest.raises(FormatError, match="--max-pixels"):
        Decoder(io.BytesIO(bad))
    assert Decoder(io.BytesIO(bad), max_pixels=2 * 10**8).header.width == 14000


def test_stream_declaring_a_large_frame_warns(small_stream, tmp_path, capsys):
    """The warning comes from the header alone (no pixel decoded) and the CLI prints it as one line."""
    from fpcodec.codec.cli import main

    big = patch_header(patch_header(small_stream, "width", 10000), "height", 9000)
    with pytest.warns(LargeFrameWarning):
        Decoder(io.BytesIO(big), load_model=False)
    fpc = tmp_path / "big.fpc"
    fpc.write_bytes(big)
    capsys.readouterr()
    assert main(["info", str(fpc), "-q"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "fpcodec: warning: frame size 10000x9000 = 90000000 pixels is above 89478485 and needs "
        "a lot of memory (--max-pixels sets the limit and silences this)"
    ], err


def test_decompression_bomb_gifs_get_a_clean_error(tmp_path, capsys):
    """Pillow's decompression-bomb GIF (a 32x32 screen whose image claims 65535 columns) as shipped
    (cut short) and completed with its terminator and trailer: one error line, no output file."""
    from fpcodec.codec.cli import main

    data = (ODD / "decompression_bomb.gif").read_bytes()
    for name, body in (("bomb.gif", data), ("bomb_complete.gif", data + b"\x00;")):
        (tmp_path / name).write_bytes(body)
        capsys.readouterr()
        assert (
            main(["encode", str(tmp_path / name), "-o", str(tmp_path / "out.fpc"), "-m", "last-frame"]) == 1
        )
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("fpcodec: error: "), err
    assert dir_listing(tmp_path) == {"bomb.gif", "bomb_complete.gif"}


def test_gif_screen_over_the_limit_is_refused_before_decoding(tmp_path, capsys):
    """A GIF whose logical screen declares 20000x10000 is refused from its header, naming the flag."""
    from fpcodec.codec.cli import main

    data = bytearray((ODD / "hopper.gif").read_bytes())
    data[6:10] = (20000).to_bytes(2, "little") + (10000).to_bytes(2, "little")
    src = tmp_path / "wide.gif"
    src.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["encode", str(src), "-o", str(tmp_path / "out.fpc"), "-m", "last-frame"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "--max-pixels" in err[0] and "20000x10000" in err[0], err
