"""bench/speed_cli.py end to end on a tiny synthetic GIF (one model, one repeat)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from fpcodec.bench import speed_cli
from fpcodec.bench.codecs import get_adapters
from fpcodec.bench.memory import maxrss_bytes


@pytest.fixture
def tiny_gif(tmp_path):
    rng = np.random.default_rng(0)
    ims = [Image.fromarray((rng.integers(0, 4, (16, 16, 3)) * 60).astype(np.uint8)) for _ in range(3)]
    path = tmp_path / "tiny.gif"
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=40, loop=0)
    return path


def test_speed_cli_report(tiny_gif, tmp_path):
    codecs = [a.name for a in get_adapters(["webp", "jxl-e9"]) if a.availability()[0]]
    if not codecs:
        pytest.skip("neither WebP nor JPEG XL is available")
    out = tmp_path / "out"
    argv = [str(tiny_gif), "--model", "last-frame", "--codecs", *codecs, "--repeats", "1"]
    assert speed_cli.main([*argv, "--out", str(out), "--no-memory", "-q"]) == 0

    report = json.loads((out / "speed_cli.json").read_text())
    assert (out / "speed_cli.png").stat().st_size > 1000
    md = (out / "speed_cli.md").read_text()
    assert "fpcodec:last-frame" in md and "load average" in md

    m = report["machine"]
    assert m["cpu_count"] >= 1 and len(m["load_start"]) == 3 and len(m["load_end"]) == 3
    # the launcher's children do not inherit this (torch-loaded) process's peak RSS
    assert 0 < report["baseline_rss_bytes"] < maxrss_bytes()

    (clip,) = report["clips"]
    assert (clip["width"], clip["height"], clip["frames"]) == (16, 16, 3)
    by_name = {r["codec"]: r for r in clip["results"]}
    assert set(by_name) == {"fpcodec:last-frame", *codecs}
    fp = by_name["fpcodec:last-frame"]
    for step in ("encode", "decode_apng", "decode_gif", "decode_1frame_apng"):
        p = fp["process"][step]
        assert len(p["wall_s"]) == len(p["cpu_s"]) == 1
        assert p["median_wall_s"] > 0 and p["median_cpu_s"] > 0 and p["peak_rss_bytes"] > 0
    assert fp["decode_fps_process"] == pytest.approx(3 / fp["process"]["decode_apng"]["median_wall_s"])
    assert fp["decode_fps_in_process"] == pytest.approx(3 / fp["in_process"]["decode_s"][0])
    assert fp["startup_s"] == fp["process"]["decode_1frame_apng"]["median_wall_s"] > 0
    assert fp["bits_per_pixel"] == pytest.approx(8 * fp["bytes"] / (3 * 16 * 16))
    assert fp["rss_above_baseline_bytes_per_pixel"]["decode"] == pytest.approx(
        (fp["peak_rss_bytes"]["decode"] - report["baseline_rss_bytes"]) / 256
    )

    assert set(fp["decode_ratio"]) == set(codecs) == set(clip["references"])
    for name in codecs:
        ext = by_name[name]
        assert ext["exact"], ext["exact_detail"]
        assert ext["decode_fps_in_process"] == pytest.approx(3 / ext["decode_s"][0])
        ratio = fp["decode_ratio"][name]
        assert ratio["reference_decode_fps"] == ext["decode_fps_in_process"]
        assert ratio["in_process"] == pytest.approx(
            fp["decode_fps_in_process"] / ext["decode_fps_in_process"]
        )
        assert ratio["process"] == pytest.approx(fp["decode_fps_process"] / ext["decode_fps_in_process"])


def test_unavailable_codec_is_skipped(monkeypatch, capsys):
    adapters = get_adapters(["webp"])
    monkeypatch.setattr(adapters[0], "availability", lambda: (False, "not built in"))
    monkeypatch.setattr(speed_cli, "get_adapters", lambda names: adapters)
    monkeypatch.setattr(speed_cli, "machine_info", lambda: (_ for _ in ()).throw(SystemExit(7)))
    with pytest.raises(SystemExit):
        speed_cli.main(["x.gif", "--codecs", "webp", "-q"])
    assert "skipping webp: not built in" in capsys.readouterr().err


def test_timed_processes_write_bytecode_as_an_installed_package(monkeypatch):
    """PYTHONDONTWRITEBYTECODE (set on the development machines) would time Python compiling
    fpcodec's sources at every start; the launcher leaves it out, and the report says so."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert speed_cli.machine_info()["dropped_env"] == ["PYTHONDONTWRITEBYTECODE"]
    with speed_cli.Launcher() as launcher:
        launcher.run([sys.executable, "-c", "import sys; sys.exit(3 if sys.dont_write_bytecode else 0)"])
        launcher.env["PYTHONDONTWRITEBYTECODE"] = "1"  # the check itself fails with the variable
        with pytest.raises(RuntimeError, match="failed \\(3\\)"):
            launcher.run([sys.executable, "-c", "import sys; sys.exit(3 if sys.dont_write_bytecode else 0)"])


def test_warm_decode_times_each_stream(capsys):
    """bench/warm_decode.py: one line per stream with the median of its timed decodes."""
    from conftest import DATA

    from fpcodec.bench import warm_decode

    assert warm_decode.main([str(DATA / "v13_planar.fpc"), "--repeats", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert (
        line.startswith("v13_planar.fpc: median ")
        and line.endswith(")")
        and len(line.split("(")[1].split()) == 2
    )
