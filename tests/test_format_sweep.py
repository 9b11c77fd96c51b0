"""The format sweep (``bench/format_sweep.py``): ~52 small inputs in FFmpeg's and Pillow's codecs,
pixel formats and containers, each through ``fpcodec encode`` and back, exact as fpcodec reads it."""

from __future__ import annotations

from fpcodec.bench import format_sweep
from fpcodec.models import registry


def test_every_input_kind_round_trips_exactly(tmp_path, capsys) -> None:
    assert format_sweep.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    made = [line for line in out if "B  EXACT" in line]
    assert len(made) >= 40, out  # a few encoders may be missing from a build of FFmpeg: "not made"
    assert out[-1] == f"{len(made)} of {len(made)} inputs exact as fpcodec reads them"
    by_name = {line.split()[0]: line for line in made}
    # What each kind of input is coded as: its own pixel format (16-bit PNGs too, version 17), RGB
    # planes, or a palette model.
    assert (
        " yuv420p10le " in by_name["h264_10bit.mkv"] and "not coded natively" not in by_name["h264_10bit.mkv"]
    )
    for name, fmt in (  # version 18's layouts, in their own samples
        ("ffv1_yuva420p.mkv", "yuva420p"),
        ("ffv1_yuv411p.mkv", "yuv411p"),
        ("ffv1_yuv440p.mkv", "yuv440p"),
        ("ffv1_yuv410p.mkv", "yuv410p"),
        ("ffv1_gbrp14.mkv", "gbrp14le"),
        ("ffv1_yuv420p9.mkv", "yuv420p9le"),
        ("prores4444_alpha.mov", "yuva444p12le"),
    ):
        assert f" {fmt} " in by_name[name] and "not coded natively" not in by_name[name], by_name[name]
    assert " gbrap16le " in by_name["rgba64.png"] and "not coded natively" not in by_name["rgba64.png"]
    assert " gbrp16le " in by_name["rgb48.png"] and " gray16le " in by_name["gray16.png"]
    assert f" {registry.DEFAULT_MODEL} " in by_name["palette.png"]  # few colours: palettes
