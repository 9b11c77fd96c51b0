"""``fpcodec batch``: discovery, the manifest, the worker, and whole runs on a local 2-CPU Ray cluster.

The clips are cut from tests/data/carphone_000.gif (48x48 crops, 3 frames each) inside tmp_path,
with a truncated GIF and a text file named like a video among them; the YUV video is
tests/data/carphone_yuv420p_64x48.mkv (and FFV1 copies of its first frames). Tests that need Ray are
skipped only when it is not installed (``pip install -e '.[test,batch]'`` installs it, as .ci/run does).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import CARPHONE, DATA, assert_frames_equal, read_video

from fpcodec.bitstream.errors import FpcodecError, InputError
from fpcodec.codec.batch import discovery
from fpcodec.codec.batch.manifest import MANIFEST_NAME, ManifestWriter, latest, read_records
from fpcodec.codec.batch.work import Options, Worker, decode_output_for, decode_output_name
from fpcodec.codec.cli import main
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_io import (
    ColourInfo,
    NativeReader,
    pixel_format_by_name,
    read_planes,
    write_ffv1_mkv,
)

GOOD = 10  # good clips in the library; plus one truncated GIF and one text file
YUV = DATA / "carphone_yuv420p_64x48.mkv"  # 64x48 yuv420p, 12 frames


def _write_gif(path: Path, frames: list[np.ndarray]) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """lib/ with 10 short GIFs in two levels of folders, a truncated GIF and a text 'video'."""
    root = tmp_path_factory.mktemp("batch") / "lib"
    (root / "a" / "b").mkdir(parents=True)
    frames, _, _ = read_video(CARPHONE)
    for i in range(GOOD):
        y, x = 8 * (i % 4), 6 * (i // 4)
        clip = [f[y : y + 48, x : x + 48] for f in frames[3 * i : 3 * i + 3]]
        folder = root if i < 3 else root / "a" if i < 7 else root / "a" / "b"
        _write_gif(folder / f"clip{i:02d}.gif", clip)
    data = (root / "clip00.gif").read_bytes()
    (root / "a" / "broken.gif").write_bytes(data[: len(data) // 2])
    (root / "a" / "b" / "notes.mp4").write_text("this is not a video\n")
    return root


def _good_sources(library: Path) -> list[Path]:
    return sorted(p for p in library.rglob("clip*.gif"))


# ------------------------------------------------------------------------------ without Ray
def test_discovery_mirrors_the_tree(library, tmp_path, monkeypatch):
    jobs = discovery.find_jobs([str(library)], suffix=".fpc")
    rels = {j.rel for j in jobs}
    assert len(jobs) == GOOD + 2
    assert (
        "lib/a/b/clip07.gif.fpc" in rels
        and "lib/a/broken.gif.fpc" in rels
        and "lib/a/b/notes.mp4.fpc" in rels
    )
    assert all(os.path.isabs(j.source) for j in jobs)
    # A list file: relative entries keep their path, a missing one becomes a job (it fails alone).
    monkeypatch.chdir(library.parent)
    listing = tmp_path / "files.txt"
    listing.write_text("# two files\nlib/a/clip03.gif\n\nlib/missing.gif\n")
    jobs = discovery.find_jobs([f"@{listing}"], suffix=".fpc")
    assert [j.rel for j in jobs] == ["lib/a/clip03.gif.fpc", "lib/missing.gif.fpc"]
    # The same file twice is one job; two files that would land on one output are refused.
    assert len(discovery.find_jobs(["lib/a/clip03.gif", str(library / "a" / "clip03.gif")])) == 1
    (tmp_path / "clip03.gif").write_bytes(b"x")
    with pytest.raises(InputError, match="would both be written"):
        discovery.find_jobs([str(library / "a" / "clip03.gif"), str(tmp_path / "clip03.gif")])
    with pytest.raises(InputError, match="no such file or folder"):
        discovery.find_jobs(["lib/nothing_here"])


def test_decode_output_names():
    assert decode_output_name("lib/a.gif.fpc", None) == "lib/a.gif"
    assert decode_output_name("lib/a.mp4.fpc", None) == "lib/a.mp4.apng"
    assert decode_output_name("lib/a.gif.fpc", ".webp") == "lib/a.gif.webp"
    assert decode_output_name("lib/a.fpc", ".gif") == "lib/a.gif"


def test_manifest_round_trips_and_survives_a_torn_line(tmp_path):
    path = tmp_path / MANIFEST_NAME
    records = [
        {"output": "x/ä.gif.fpc", "status": "ok", "bits_per_pixel": 2.5, "seconds": {"code": 0.125}},
        {"output": "y.gif.fpc", "status": "error", "error": 'bad "file"\nsecond line'},
        {"output": "x/ä.gif.fpc", "status": "ok", "bits_per_pixel": 2.25},
    ]
    with ManifestWriter(path) as w:
        for rec in records:
            w.append(rec)
    assert read_records(path) == records
    assert latest(records)["x/ä.gif.fpc"]["bits_per_pixel"] == 2.25
    # A kill during a write leaves a torn last line: it is ignored, then cut off by the next writer.
    with open(path, "ab") as fh:
        fh.write(b'{"output": "z.gif.fpc", "sta')
    assert read_records(path) == records
    with ManifestWriter(path) as w:
        w.append({"output": "z.gif.fpc", "status": "ok"})
    assert read_records(path) == records + [{"output": "z.gif.fpc", "status": "ok"}]
    assert all(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    # Damage anywhere but at the end is not something a kill does: refused, not skipped.
    path.write_text('{"output": "a"}\nnot json\n{"output": "b"}\n')
    with pytest.raises(FpcodecError, match="line 2"):
        read_records(path)


def test_worker_reports_bad_files_and_verifies(library, tmp_path):
    worker = Worker(Options(model="last-frame", threads=None))
    ok = worker.encode(discovery.Job(str(library / "clip00.gif"), "c.gif.fpc"), str(tmp_path))
    assert ok["status"] == "ok" and ok["verified"] and ok["frames"] == 3, ok
    bad = worker.encode(discovery.Job(str(library / "a" / "broken.gif"), "b.gif.fpc"), str(tmp_path))
    assert bad["status"] == "error" and "truncated" in bad["error"]
    assert not (tmp_path / "b.gif.fpc").exists()
    assert (
        worker.encode(discovery.Job(str(tmp_path / "gone.gif"), "g.fpc"), str(tmp_path))["status"] == "error"
    )
    # An existing stream is never overwritten: it is kept if it decodes to the source, else refused.
    again = worker.encode(discovery.Job(str(library / "clip00.gif"), "c.gif.fpc"), str(tmp_path))
    assert again["status"] == "ok" and again.get("adopted")
    other = worker.encode(discovery.Job(str(library / "clip01.gif"), "c.gif.fpc"), str(tmp_path))
    assert other["status"] == "error" and "-y/--force" in other["error"]
    verified = worker.verify(ok, str(tmp_path))
    assert verified["status"] == "ok", verified


# ------------------------------------------------------------------- YUV video, without Ray
def _stream_planes(path: Path):
    """(pixel format, every frame's planes) of a planar stream."""
    with open(path, "rb") as fh:
        dec = Decoder(fh)
        frames = [f.planes for f in dec]
    assert all(f is not None for f in frames)
    return dec.pixel_format, frames


def _assert_same_planes(got: list[list[np.ndarray]], expected: list[list[np.ndarray]]) -> None:
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert len(g) == len(e), i
        for a, b in zip(g, e, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), i


def test_worker_codes_a_yuv_video_in_its_own_pixel_format(tmp_path):
    # The batch's default -m (a learned predictor) names the predictor of RGB-coded files only.
    rec = Worker(Options(threads=None)).encode(discovery.Job(str(YUV), "v.mkv.fpc"), str(tmp_path))
    assert rec["status"] == "ok" and rec["verified"], rec
    assert rec["pixel_format"] == "yuv420p" and rec["model"] == "last-frame" and rec["format_version"] >= 7
    assert (rec["frames"], rec["width"], rec["height"], rec["channels"]) == (12, 64, 48, 3)
    assert rec["stream_size"] == (tmp_path / "v.mkv.fpc").stat().st_size
    fmt, planes = read_planes(YUV)
    got_fmt, got = _stream_planes(tmp_path / "v.mkv.fpc")
    assert got_fmt == fmt and got_fmt.name == "yuv420p"
    _assert_same_planes(got, planes)
    # rgb=True (--rgb): RGB frames with -m's predictor, as batches did before.
    rgb = Worker(Options(model="last-frame", threads=None, rgb=True))
    rec = rgb.encode(discovery.Job(str(YUV), "r.mkv.fpc"), str(tmp_path))
    assert rec["status"] == "ok" and rec["verified"] and "pixel_format" not in rec and rec["channels"] == 3
    with open(tmp_path / "r.mkv.fpc", "rb") as fh:
        assert Decoder(fh, load_model=False).pixel_format is None


def test_worker_records_a_source_coded_as_its_rgb_conversion(tmp_path):
    """A video in a format fpcodec neither codes natively nor holds in RGB frames (xv30le, 10-bit
    4:4:4 packed three to 32 bits) is coded as RGB frames, verified against that conversion, and
    its record says so; a native one has no warnings, nor has a semi-planar one (nv21: its
    samples are yuv420p's, coded as such)."""
    import av

    rgb = np.random.default_rng(4).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    for pix_fmt in ("xv30le", "nv21"):
        with av.open(str(tmp_path / f"{pix_fmt}.nut"), "w") as cont:
            stream = cont.add_stream("rawvideo", rate=25)
            stream.width, stream.height, stream.pix_fmt = 16, 12, pix_fmt
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt, threads=1)
            for pkt in [*stream.encode(frame), *stream.encode()]:
                cont.mux(pkt)
    worker = Worker(Options(model="last-frame", threads=None))
    rec = worker.encode(discovery.Job(str(tmp_path / "xv30le.nut"), "a.fpc"), str(tmp_path / "out"))
    assert rec["status"] == "ok" and rec["verified"] and "pixel_format" not in rec, rec
    assert len(rec["warnings"]) == 1 and "xv30le is not coded natively" in rec["warnings"][0]
    rec = worker.encode(discovery.Job(str(tmp_path / "nv21.nut"), "b.fpc"), str(tmp_path / "out"))
    assert rec["status"] == "ok" and rec["verified"] and rec["pixel_format"] == "yuv420p", rec
    assert "warnings" not in rec
    rec = worker.encode(discovery.Job(str(YUV), "v.mkv.fpc"), str(tmp_path / "out"))
    assert rec["status"] == "ok" and "warnings" not in rec


def test_worker_checks_and_adopts_planar_streams(tmp_path):
    fmt, planes = read_planes(YUV)
    colour = NativeReader(YUV).colour
    lib, out = tmp_path / "lib", tmp_path / "out"
    lib.mkdir()
    frames = planes[:4]
    changed = [[p.copy() for p in f] for f in frames]
    changed[3][2][5, 7] ^= 1  # one V sample of the last frame
    for name, video in (("v.mkv", frames), ("w.mkv", changed)):
        write_ffv1_mkv(lib / name, fmt, colour, 64, 48, Fraction(25), iter(video))
    v, w = str(lib / "v.mkv"), str(lib / "w.mkv")
    worker = Worker(Options(threads=None))
    rec = worker.encode(discovery.Job(v, "v.mkv.fpc"), str(out))
    assert rec["status"] == "ok" and rec["pixel_format"] == "yuv420p" and rec["frames"] == 4, rec
    assert worker.verify(rec, str(out))["status"] == "ok"
    # A planar stream on disk that the manifest does not list is kept if it gives back the planes...
    again = worker.encode(discovery.Job(v, "v.mkv.fpc"), str(out))
    assert again["status"] == "ok" and again["adopted"] and again["verified"], again
    assert again["pixel_format"] == "yuv420p" and again["model"] == "last-frame"
    assert again["stream_sha256"] == rec["stream_sha256"]
    # ... and refused when one sample differs.
    other = worker.encode(discovery.Job(w, "v.mkv.fpc"), str(out))
    assert (
        other["status"] == "error" and "frame 3 differs" in other["error"] and "-y/--force" in other["error"]
    )
    # An altered stream fails verification: by its SHA-256, and by its planes when it still decodes.
    assert worker.encode(discovery.Job(w, "w.mkv.fpc"), str(out))["status"] == "ok"
    shutil.copy(out / "w.mkv.fpc", out / "v.mkv.fpc")
    assert "changed since it was written" in worker.verify(rec, str(out))["error"]
    unsigned = {k: val for k, val in rec.items() if k != "stream_sha256"}
    res = worker.verify(unsigned, str(out))
    assert res["status"] == "error" and "frame 3 differs" in res["error"], res
    # An RGB stream of a YUV video (--rgb, or a batch before planar streams) is kept as what it is.
    Worker(Options(model="last-frame", threads=None, rgb=True)).encode(discovery.Job(v, "r.fpc"), str(out))
    kept = worker.encode(discovery.Job(v, "r.fpc"), str(out))
    assert kept["status"] == "ok" and kept["adopted"] and "pixel_format" not in kept, kept


def test_worker_decodes_planar_streams_only_to_outputs_that_hold_them(library, tmp_path):
    enc = Worker(Options(model="last-frame", threads=None))
    assert enc.encode(discovery.Job(str(YUV), "v.mp4.fpc"), str(tmp_path))["status"] == "ok"
    assert (
        enc.encode(discovery.Job(str(library / "clip00.gif"), "c.mp4.fpc"), str(tmp_path))["status"] == "ok"
    )
    stream, rgb_stream = str(tmp_path / "v.mp4.fpc"), str(tmp_path / "c.mp4.fpc")
    # Without --to, a planar stream goes to FFV1 unless its inner name is .mkv or .y4m already.
    assert decode_output_for(discovery.Job(stream, "lib/v.mp4.fpc"), None) == "lib/v.mp4.mkv"
    assert decode_output_for(discovery.Job(stream, "lib/v.mp4.fpc"), ".y4m") == "lib/v.mp4.y4m"
    assert decode_output_for(discovery.Job(rgb_stream, "lib/c.mp4.fpc"), None) == "lib/c.mp4.apng"
    assert decode_output_name("lib/v.y4m.fpc", None, planar=True) == "lib/v.y4m"
    assert decode_output_name("lib/c.mkv.fpc", None) == "lib/c.mkv"  # an RGB video's stream, back as FFV1
    assert decode_output_name("lib/v.mkv.fpc", None, planar=True) == "lib/v.mkv"
    _, planes = read_planes(YUV)
    back = tmp_path / "back"
    for rel, to in (("v.mp4.mkv", None), ("v.mp4.y4m", ".y4m")):
        worker = Worker(Options(threads=None, to=to))
        rec = worker.decode(discovery.Job(stream, rel), str(back))
        assert rec["status"] == "ok" and rec["verified"] and rec["pixel_format"] == "yuv420p", rec
        assert rec["frames"] == 12 and rec["output_sha256"]
        fmt, got = read_planes(back / rel)
        assert fmt.name == "yuv420p"
        _assert_same_planes(got, planes)
        assert worker.verify(rec, str(back))["status"] == "ok"
        again = worker.decode(discovery.Job(stream, rel), str(back))
        assert again["status"] == "ok" and again["adopted"] and again["pixel_format"] == "yuv420p"
    # Outputs that cannot hold the samples (or an RGB stream's frames) are refused, nothing written.
    rec = Worker(Options(threads=None, to=".apng")).decode(discovery.Job(stream, "v.mp4.apng"), str(back))
    assert rec["status"] == "error" and "holds yuv420p samples" in rec["error"] and "--to mkv" in rec["error"]
    rec = Worker(Options(threads=None, to=".y4m")).decode(discovery.Job(rgb_stream, "c.mp4.y4m"), str(back))
    assert rec["status"] == "error" and "holds RGB frames" in rec["error"], rec
    assert sorted(p.name for p in back.iterdir()) == ["v.mp4.mkv", "v.mp4.y4m"]
    # A format Y4M holds no tag for (4:4:0, version 18) is refused there before decoding.
    src440 = tmp_path / "v440.mkv"
    write_ffv1_mkv(
        src440,
        pixel_format_by_name("yuv440p"),
        ColourInfo(),
        8,
        6,
        Fraction(25),
        [[np.zeros(shape, np.uint8) for shape in ((6, 8), (3, 8), (3, 8))]],
    )
    assert enc.encode(discovery.Job(str(src440), "v440.mkv.fpc"), str(tmp_path))["status"] == "ok"
    rec = Worker(Options(threads=None, to=".y4m")).decode(
        discovery.Job(str(tmp_path / "v440.mkv.fpc"), "v440.y4m"), str(back)
    )
    assert rec["status"] == "error" and "yuv440p" in rec["error"] and "--to mkv" in rec["error"], rec
    assert not (back / "v440.y4m").exists()
    # An RGB stream to .mkv: FFV1 in RGB, exact, verified.
    rec = Worker(Options(threads=None, to=".mkv")).decode(discovery.Job(rgb_stream, "c.mp4.mkv"), str(back))
    assert rec["status"] == "ok" and rec["verified"], rec


def test_missing_ray_is_a_clean_error(library, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    rc = main(["batch", "encode", str(library / "clip00.gif"), "-o", str(tmp_path / "out")])
    assert rc == 1
    assert "fpcodec[batch]" in capsys.readouterr().err


def test_help_does_not_import_ray():
    code = (
        "import sys\nfrom fpcodec.codec.cli import main\n"
        "for argv in (['-h'], ['batch', '-h'], ['batch', 'encode', '-h']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "batch" in out.stdout and out.stdout.strip().endswith("False")


# ---------------------------------------------------------------------------------- on Ray
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[test,batch]')")
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def encoded(ray_cluster, library, tmp_path_factory) -> tuple[Path, int, str]:
    """One batch encode of the whole library: (output folder, exit status, stdout)."""
    out = tmp_path_factory.mktemp("encoded") / "out"
    import io
    from contextlib import redirect_stdout

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["batch", "encode", str(library), "-o", str(out), "-m", "last-frame"])
    return out, rc, buf.getvalue()


def _encode_records(out: Path) -> dict[str, dict]:
    return latest(read_records(out / MANIFEST_NAME))


def test_batch_encode_codes_good_files_and_reports_bad_ones(encoded, library):
    out, rc, stdout = encoded
    assert rc == 1  # two files failed
    recs = _encode_records(out)
    assert len(recs) == GOOD + 2
    errors = {rel: r for rel, r in recs.items() if r["status"] == "error"}
    assert set(errors) == {"lib/a/broken.gif.fpc", "lib/a/b/notes.mp4.fpc"}
    assert "truncated" in errors["lib/a/broken.gif.fpc"]["error"]
    assert "is a text file, not a GIF or video" in errors["lib/a/b/notes.mp4.fpc"]["error"]
    from fpcodec.codec import decode

    for src in _good_sources(library):
        rel = "lib/" + src.relative_to(library).as_posix() + ".fpc"
        rec = recs[rel]
        assert rec["status"] == "ok" and rec["verified"] and rec["frames"] == 3, rec
        assert rec["source_size"] == src.stat().st_size and rec["stream_size"] == (out / rel).stat().st_size
        assert rec["model"] == "last-frame" and rec["format_version"] >= 5 and 0 < rec["bits_per_pixel"] < 24
        frames, durations, _ = read_video(src)
        video = decode((out / rel).read_bytes())
        assert_frames_equal(video.frames, frames)
        assert video.durations == durations
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left
    assert not (out / "lib" / "a" / "broken.gif.fpc").exists()
    assert f"{GOOD + 2} files: {GOOD} encoded, 0 already done, 2 failed" in stdout


def test_batch_exit_status_zero_when_all_good(ray_cluster, library, tmp_path, capsys):
    src = library / "a" / "b"  # clip07..clip09 and the text file
    rc = main(
        [
            "batch",
            "encode",
            str(src / "clip07.gif"),
            str(src / "clip08.gif"),
            "-o",
            str(tmp_path),
            "-m",
            "last-frame",
            "--workers",
            "2",
            "--no-verify",
            "-q",
        ]
    )
    assert rc == 0
    recs = _encode_records(tmp_path)
    assert set(recs) == {"clip07.gif.fpc", "clip08.gif.fpc"}
    assert all(
        r["status"] == "ok" and r["verified"] is False and r["format_version"] >= 5 for r in recs.values()
    )
    assert capsys.readouterr().out == ""


def test_batch_resume_after_an_interrupted_run(ray_cluster, library, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    argv = ["batch", "encode", str(library), "-o", str(out), "-m", "last-frame", "--in-flight", "2"]
    # Interrupt the driver as a kill would: after 4 records are in the manifest, the fifth write
    # never happens (that file's stream may already be on disk), and a torn line is left behind.
    original = ManifestWriter.append
    calls = []

    def append(self, record):
        if len(calls) == 4:
            with open(self.path, "ab") as fh:
                fh.write(b'{"output": "lib/clip0')
            raise KeyboardInterrupt
        calls.append(record["output"])
        original(self, record)

    monkeypatch.setattr(ManifestWriter, "append", append)
    assert main(argv) == 130
    monkeypatch.setattr(ManifestWriter, "append", original)
    first = read_records(out / MANIFEST_NAME)
    assert [r["output"] for r in first] == calls
    done_first = {r["output"] for r in first if r["status"] == "ok"}
    mtimes = {rel: (out / rel).stat().st_mtime_ns for rel in done_first}
    capsys.readouterr()

    # The rerun finishes the rest, re-codes none of the files done before, and fails the bad ones again.
    assert main(argv) == 1
    records = read_records(out / MANIFEST_NAME)
    second = records[len(first) :]
    assert not {r["output"] for r in second} & done_first
    recs = latest(records)
    assert sum(r["status"] == "ok" for r in recs.values()) == GOOD
    assert {rel: (out / rel).stat().st_mtime_ns for rel in done_first} == mtimes
    # A stream written before the kill but missing from the manifest is checked and kept, not re-coded.
    for r in second:
        if r.get("adopted"):
            assert "code" not in r["seconds"] and r["verified"]
    assert f"{GOOD - len(done_first)} encoded, {len(done_first)} already done" in capsys.readouterr().out
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # temp files of the kill removed


def test_batch_verify_catches_an_altered_stream(ray_cluster, encoded, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(encoded[0], out)
    assert main(["batch", "verify", str(out)]) == 0
    assert f"{GOOD} files: {GOOD} verified" in capsys.readouterr().out
    victim = out / "lib" / "a" / "clip04.gif.fpc"
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0x40
    victim.write_bytes(bytes(data))
    (out / "lib" / "clip01.gif.fpc").unlink()
    assert main(["batch", "verify", str(out)]) == 1
    captured = capsys.readouterr()
    assert "clip04.gif.fpc changed since it was written" in captured.err
    assert "clip01.gif.fpc is missing" in captured.err
    assert f"{GOOD - 2} verified" in captured.out and "2 failed" in captured.out


def test_batch_decode_gives_back_the_sources(ray_cluster, encoded, library, tmp_path):
    out = tmp_path / "decoded"
    assert main(["batch", "decode", str(encoded[0]), "-o", str(out), "-q"]) == 0
    recs = latest(read_records(out / MANIFEST_NAME))
    assert len(recs) == GOOD and all(r["status"] == "ok" and r["verified"] for r in recs.values())
    for src in _good_sources(library):
        decoded = out / "out" / "lib" / src.relative_to(library)
        assert_frames_equal(read_video(decoded)[0], read_video(src)[0])


def test_batch_codes_yuv_video_natively_beside_gifs(ray_cluster, library, tmp_path):
    lib = tmp_path / "mixed"
    lib.mkdir()
    shutil.copy(YUV, lib / "v.mkv")
    shutil.copy(library / "clip00.gif", lib / "c.gif")
    out, back = tmp_path / "out", tmp_path / "back"
    assert main(["batch", "encode", str(lib), "-o", str(out), "-m", "last-frame", "-q"]) == 0
    recs = _encode_records(out)
    assert recs["mixed/v.mkv.fpc"]["pixel_format"] == "yuv420p" and recs["mixed/v.mkv.fpc"]["verified"]
    assert "pixel_format" not in recs["mixed/c.gif.fpc"] and recs["mixed/c.gif.fpc"]["verified"]
    assert main(["batch", "verify", str(out), "-q"]) == 0
    assert main(["batch", "decode", str(out), "-o", str(back), "-q"]) == 0
    _assert_same_planes(read_planes(back / "out" / "mixed" / "v.mkv")[1], read_planes(YUV)[1])
    assert_frames_equal(read_video(back / "out" / "mixed" / "c.gif")[0], read_video(lib / "c.gif")[0])


def test_batch_refuses_workers_the_cluster_cannot_place(ray_cluster, library, tmp_path, capsys):
    src = str(library / "clip00.gif")
    assert main(["batch", "encode", str(library), "-o", str(tmp_path), "--workers", "3"]) == 1
    assert "3 workers need 3 CPUs; the cluster has 2" in capsys.readouterr().err
    assert main(["batch", "encode", src, "-o", str(tmp_path), "--gpus-per-worker", "1"]) == 1
    assert "GPUs; the cluster has 0" in capsys.readouterr().err
    assert main(["batch", "encode", src, "-o", str(tmp_path), "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
