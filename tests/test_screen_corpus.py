"""The screen/graphics GIF corpus builder (bench/screen_corpus.py) and vs_gif's --webp/--json.

Quick: tiny GIFs made here with Pillow and the committed manifest; nothing from the real sources.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fpcodec.bench import screen_corpus, vs_gif
from fpcodec.bench.screen_corpus import CorpusError

needs_gifsicle = pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle not installed")


def _gif(path: Path, n: int, w: int = 16, h: int = 12, seed: int = 0) -> Path:
    """An n-frame palette GIF whose frames all differ (Pillow would merge equal ones)."""
    rng = np.random.default_rng(seed)
    ims = []
    for k in range(n):
        a = rng.integers(0, 4, (h, w), dtype=np.uint8) * 60
        a[0, 0] = 10 + k
        ims.append(Image.fromarray(np.stack([a, a[::-1], a[:, ::-1]], axis=-1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=50, loop=0)
    return path


def _sources(tmp_path: Path, packages=("racket-common", "fake-doc", "fake-doc")) -> Path:
    """A folder like /work/screengifs: GIFs named <package>__<basename>.gif and a SOURCES.json."""
    src = tmp_path / "src"
    listing = []
    for k, (pkg, n) in enumerate(zip(packages, (3, 5, 2), strict=False)):
        base = f"anim{k}.gif"
        path = _gif(src / f"{pkg}__{base}", n, seed=k)
        listing.append(
            {
                "file": path.name,
                "package": pkg,
                "version": f"1.{k}-1",
                "path": f"/usr/share/doc/{pkg}/{base}",
                "license": "Expat",
                "width": 16,
                "height": 12,
                "frames": n,
                "kind": "sprite",
                "bytes": path.stat().st_size,
            }
        )
    (src / "SOURCES.json").write_text(json.dumps(listing))
    return src


@pytest.fixture
def small_rule(monkeypatch):
    """Thresholds scaled down so that the 5-frame 16x12 GIF (960 pixels) is cut to 2 frames."""
    monkeypatch.setattr(screen_corpus, "WHOLE_PIXELS", 900)
    monkeypatch.setattr(screen_corpus, "CUT_PIXELS", 400)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


# ------------------------------------------------------------------------------------ the rule
def test_selection_rule():
    assert screen_corpus.select(508, 359, 1) == 1  # whole
    assert screen_corpus.select(192, 128, 181) == 181  # 4.4e6 pixels: whole
    assert screen_corpus.select(1366, 768, 229) == 5  # 6e6 // 1049088
    assert screen_corpus.select(400, 236, 174) == 63
    assert screen_corpus.select(1846, 1007, 1251) == 3
    assert screen_corpus.select(3000, 3000, 5) == 2  # at least two frames
    assert not screen_corpus.is_whole(3000, 3000, 1)
    assert screen_corpus.cut_command(5) == "gifsicle --no-warnings SOURCE '#0-4' -o CLIP"


def test_real_manifest_is_valid():
    manifest = screen_corpus.load_manifest()
    clips = manifest["clips"]
    assert len(clips) == 50
    assert manifest["reserved_packages"] == ["libjxl-testdata", "opencv-doc", "python-kivy-examples"]
    assert "(the repeat context) and 10 (the row schedule) were tuned" in manifest["splits"]["dev"]
    assert "never used for tuning" in manifest["splits"]["test"]
    assert manifest["gifsicle"].startswith("LCDF Gifsicle")
    dev = {c["package"]["name"] for c in clips if c["split"] == "dev"}
    test = {c["package"]["name"] for c in clips if c["split"] == "test"}
    assert dev == {"racket-common", "luma.oled-doc", "libhalide14-doc", "jmeter-help", "libfox-1.6-doc"}
    assert not dev & test and len(test) == 19
    assert sum(c["split"] == "dev" for c in clips) == 27
    for c in clips:
        for field in screen_corpus.REQUIRED:
            assert field in c, (c["name"], field)
        assert c["package"]["name"] not in screen_corpus.RESERVED_PACKAGES
        assert c["package"]["registry"] == "debian" and c["licence"]
        assert c["file"] == f"{c['split']}/{c['package']['name']}__{Path(c['path_in_package']).name}"
        w, h, n = c["width"], c["height"], c["frames"]
        assert c["frames_taken"] == screen_corpus.select(w, h, n), c["name"]
        whole = screen_corpus.is_whole(w, h, n)
        assert (c["cut"] == "whole file") == whole, c["name"]
        assert (c["clip_sha256"] == c["sha256"]) == whole, c["name"]


def test_reserved_package_is_refused(tmp_path, capsys):
    clip = screen_corpus.load_manifest()["clips"][-1]
    bad = dict(clip, package=dict(clip["package"], name="python-kivy-examples"))
    with pytest.raises(CorpusError, match="reserved"):
        screen_corpus.check_entry(bad)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"clips": [bad]}))
    rc = screen_corpus.main(
        ["build", "--sources", str(tmp_path), "--out", str(tmp_path / "o"), "--manifest", str(manifest)]
    )
    assert rc == 1 and "reserved" in _one_line(capsys)
    src = _sources(tmp_path, packages=("fake-doc", "opencv-doc"))
    with pytest.raises(CorpusError, match="opencv-doc is reserved"):
        screen_corpus.make_manifest([src])


# ------------------------------------------------------------------------- manifest and build
@needs_gifsicle
def test_manifest_round_trip_and_build(tmp_path, small_rule, capsys):
    src = _sources(tmp_path)
    out_manifest = tmp_path / "screen_corpus.json"
    assert screen_corpus.main(["manifest", "--sources", str(src), "-o", str(out_manifest)]) == 0
    manifest = screen_corpus.load_manifest(out_manifest)
    clips = {c["name"]: c for c in manifest["clips"]}
    assert set(clips) == {"racket-common__anim0", "fake-doc__anim1", "fake-doc__anim2"}
    dev, cut, whole = clips["racket-common__anim0"], clips["fake-doc__anim1"], clips["fake-doc__anim2"]
    assert dev["split"] == "dev" and dev["file"] == "dev/racket-common__anim0.gif"
    assert cut["split"] == whole["split"] == "test"
    assert dev["sha256"] == screen_corpus.sha256_file(src / "racket-common__anim0.gif")
    assert dev["package"] == {"name": "racket-common", "version": "1.0-1", "registry": "debian"}
    assert dev["path_in_package"] == "/usr/share/doc/racket-common/anim0.gif" and dev["licence"] == "Expat"
    assert (whole["cut"], whole["frames_taken"], whole["clip_sha256"]) == ("whole file", 2, whole["sha256"])
    assert (cut["frames"], cut["frames_taken"]) == (5, 2)
    assert (
        cut["cut"] == "gifsicle --no-warnings SOURCE '#0-1' -o CLIP" and cut["clip_sha256"] != cut["sha256"]
    )
    assert manifest["gifsicle"].startswith("LCDF Gifsicle")
    capsys.readouterr()

    out = tmp_path / "corpus"
    rc = screen_corpus.main(
        ["build", "--sources", str(src), "--out", str(out), "--manifest", str(out_manifest), "-q"]
    )
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.gif")) == [
        "dev/racket-common__anim0.gif",
        "test/fake-doc__anim1.gif",
        "test/fake-doc__anim2.gif",
    ]
    for c in clips.values():
        assert screen_corpus.sha256_file(out / c["file"]) == c["clip_sha256"]
        assert screen_corpus.gif_info(out / c["file"]) == (16, 12, c["frames_taken"])
    assert (out / "dev/racket-common__anim0.gif").read_bytes() == (
        src / "racket-common__anim0.gif"
    ).read_bytes()
    record = json.loads((out / "build.json").read_text())
    assert all(c["matches_manifest"] for c in record["clips"]) and record["gifsicle"] == manifest["gifsicle"]
    assert json.loads((out / "screen_corpus.json").read_text()) == manifest

    # a different gifsicle (other bytes for the cut clip) is refused, or kept with --allow-mismatch
    clips_list = [dict(c, clip_sha256="0" * 64) if c is cut else c for c in manifest["clips"]]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(manifest, clips=clips_list)))
    out2 = tmp_path / "corpus2"
    args = ["build", "--sources", str(src), "--out", str(out2), "--manifest", str(other), "-q"]
    assert screen_corpus.main(args) == 1
    assert "differs from the manifest" in _one_line(capsys)
    assert not (out2 / cut["file"]).exists()
    assert screen_corpus.main([*args, "--allow-mismatch"]) == 0
    assert "warning" in _one_line(capsys) and (out2 / cut["file"]).is_file()


def test_build_from_package_layout_and_wrong_sha256(tmp_path, capsys):
    src = _sources(tmp_path, packages=("fake-doc",))
    manifest = screen_corpus.make_manifest([src])
    clip = manifest["clips"][0]
    # DIR/<package>/<path in package>, as --fetch leaves it
    pkg_dir = tmp_path / "cache" / "fake-doc" / "usr/share/doc/fake-doc"
    pkg_dir.mkdir(parents=True)
    shutil.copyfile(src / "fake-doc__anim0.gif", pkg_dir / "anim0.gif")
    path = tmp_path / "m.json"
    path.write_text(json.dumps(manifest))
    built = screen_corpus.build(path, [tmp_path / "cache"], tmp_path / "out")
    assert built[0].matches_manifest and built[0].path == tmp_path / "out" / clip["file"]

    path.write_text(json.dumps(dict(manifest, clips=[dict(clip, sha256="ab" * 32, clip_sha256="ab" * 32)])))
    rc = screen_corpus.main(
        ["build", "--sources", str(src), "--out", str(tmp_path / "o2"), "--manifest", str(path)]
    )
    assert rc == 1
    err = _one_line(capsys)
    assert "sha256" in err and "does not match" in err
    assert not (tmp_path / "o2" / clip["file"]).exists()


def test_missing_sources_and_gifsicle_are_one_line(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    fake = tmp_path / "bin"  # a gifsicle that only tells its version, whether or not one is installed
    fake.mkdir()
    (fake / "gifsicle").write_text("#!/bin/sh\necho 'LCDF Gifsicle 1.93'\n")
    (fake / "gifsicle").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    rc = screen_corpus.main(["build", "--sources", str(empty), "--out", str(tmp_path / "o")])
    err = _one_line(capsys)
    assert rc == 1 and "50 of 50 sources not found" in err and "--fetch" in err
    monkeypatch.setenv("PATH", str(empty))
    rc = screen_corpus.main(["build", "--sources", str(empty), "--out", str(tmp_path / "o")])
    err = _one_line(capsys)
    assert rc == 1 and "gifsicle not found" in err and "Debian package gifsicle" in err


# -------------------------------------------------------------------------------------- vs_gif
def test_vs_gif_webp_and_json(tmp_path, capsys):
    from fpcodec.bench.codecs import WebPCodec

    if not WebPCodec().availability()[0]:
        pytest.skip("Pillow has no WebP support")
    _gif(tmp_path / "clips" / "tiny.gif", 2)
    report = tmp_path / "vs.json"
    assert vs_gif.main([str(tmp_path / "clips"), "--webp", "--json", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    model = vs_gif.registry.DEFAULT_MODEL
    assert out[0].startswith(f"tiny.gif {model}: 2 frames, fpcodec ") and ", WebP lossless " in out[0]
    assert out[-1].startswith(f"TOTAL {model}: fpcodec ") and ", WebP lossless " in out[-1]
    data = json.loads(report.read_text())
    (clip,) = data["clips"]
    assert clip["name"] == "tiny.gif" and clip["frames"] == 2 and clip["pixels"] == 2 * 16 * 12
    assert clip["gif_bytes"] == (tmp_path / "clips" / "tiny.gif").stat().st_size
    assert clip["models"][model]["bytes"] > 0 and clip["models"][model]["encode_seconds"] > 0
    assert clip["webp"]["exact"] and clip["webp_bytes"] == clip["webp"]["bytes"] > 0
    assert f"{8 * clip['webp_bytes'] / clip['pixels']:.3f} bpp ({clip['webp_bytes']} bytes)" in out[0]
    assert data["totals"]["webp"] == {
        "bytes": clip["webp_bytes"],
        "pixels": clip["pixels"],
        "clips_counted": 1,
        "clips_exact_visible_only": 0,
        "not_exact": [],
    }


def test_vs_gif_webp_transparent_colour_is_exact_visible():
    from fpcodec.bench.codecs import WebPCodec

    if not WebPCodec().availability()[0]:
        pytest.skip("Pillow has no WebP support")
    frames = []
    for k in range(2):
        f = np.full((8, 8, 4), 255, np.uint8)
        f[..., 0] = 40 * k
        f[:3, :3] = (200, 100, 50, 0)  # transparent, with a colour WebP does not keep
        frames.append(f)
    res = vs_gif._webp(WebPCodec(), frames, 50)
    assert res["status"] == "exact-visible" and res["counted"] and not res["exact"], res
    assert "alpha 0" in res["detail"] and res["bytes"] > 0
    assert "RGB under alpha 0 not kept" in vs_gif._webp_text(res, 128)
    opaque = [np.ascontiguousarray(f[..., :3]) for f in frames]
    assert vs_gif._webp(WebPCodec(), opaque, 50)["status"] == "exact"


def test_vs_gif_without_webp_is_unchanged_and_refuses_missing_webp(tmp_path, capsys, monkeypatch):
    _gif(tmp_path / "clips" / "tiny.gif", 2)
    assert vs_gif.main([str(tmp_path / "clips")]) == 0
    out = capsys.readouterr().out
    assert "WebP" not in out and ", GIF " in out and ", encode " in out
    from fpcodec.bench.codecs import WebPCodec

    monkeypatch.setattr(
        WebPCodec, "availability", lambda self: (False, "Pillow was built without WebP support")
    )
    assert vs_gif.main([str(tmp_path / "clips"), "--webp"]) == 2
    assert "without WebP" in _one_line(capsys)


def test_fetch_takes_the_current_version_when_the_pinned_one_is_gone(tmp_path, monkeypatch, capsys):
    """apt-get refuses a version the mirror no longer has: fetch_deb downloads the current one
    (the build's sha256 check still decides); any other failure stays an error."""
    from fpcodec.bench import natural_corpus

    calls = []

    def fake_run(cmd, cwd=None):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"] and "=" in cmd[2]:
            raise natural_corpus.CorpusError(
                f"{' '.join(cmd)} failed (E: Version '1.0-1' for 'pkg' was not found)"
            )
        if cmd[:2] == ["apt-get", "download"]:
            (cwd / "pkg_1.0-1+b1_all.deb").write_bytes(b"deb")

    monkeypatch.setattr(natural_corpus, "run", fake_run)
    natural_corpus.fetch_deb("pkg", "1.0-1", tmp_path, tmp_path / "pkg")
    assert calls == [
        ["apt-get", "download", "pkg=1.0-1"],
        ["apt-get", "download", "pkg"],
        ["dpkg", "-x", str(tmp_path / "pkg_1.0-1+b1_all.deb"), str(tmp_path / "pkg")],
    ]
    assert "pkg=1.0-1 is gone from the mirror" in capsys.readouterr().err

    def offline(cmd, cwd=None):
        raise natural_corpus.CorpusError("apt-get download pkg=1.0-1 failed (E: Unable to fetch)")

    monkeypatch.setattr(natural_corpus, "run", offline)
    with pytest.raises(natural_corpus.CorpusError, match="Unable to fetch"):
        natural_corpus.fetch_deb("pkg", "1.0-1", tmp_path, tmp_path / "pkg")
