"""The ``fpcodec`` command: the real console script in a subprocess, and ``cli.main`` in-process."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image, ImageSequence

from fpcodec.bitstream.container import VERSION
from fpcodec.codec import decode

from conftest import (
    run_main,
    BROKEN_GIFS,
    CARPHONE,
    ODD,
    assert_clean_error,
    assert_frames_equal,
    clear_transparent,
    dir_listing,
    fpcodec_command,
    read_video,
    run_cli,
)

RGB_INPUT = ODD / "dispose_prev.gif"  # 100x100, 5 frames, 10/100/100/100/100 cs, loops
RGBA_INPUT = ODD / "dispose_bgnd_rgba.gif"  # 100x100, 5 frames with transparency


def assert_main_error(capsys, *args) -> str:
    code, out, err = run_main(capsys, *args)
    assert isinstance(code, int) and code != 0, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fpcodec: error: "), err
    return lines[0]


def pillow_frames(path, mode):
    with Image.open(path) as im:
        out = [(np.array(f.convert(mode)), f.info.get("duration")) for f in ImageSequence.Iterator(im)]
    return [f for f, _ in out], [d for _, d in out]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """{"rgb"|"rgba": (workdir, input copy, .fpc path, input frames, durations, info)}.

    RGB is encoded by the console script, RGBA by main() in-process (subprocesses are slow: every
    one imports torch).
    """
    from fpcodec.codec.cli import main

    out = {}
    for key, src in (("rgb", RGB_INPUT), ("rgba", RGBA_INPUT)):
        work = tmp_path_factory.mktemp(f"cli_{key}")
        inp = work / src.name
        shutil.copyfile(src, inp)
        if key == "rgb":
            proc = run_cli("encode", inp, "-o", work / "video.fpc", cwd=work)
            assert proc.returncode == 0, proc.stderr
            assert "5 frames 100x100" in proc.stdout
            assert "Traceback" not in proc.stderr
        else:
            assert main(["encode", "-q", str(inp), "-o", str(work / "video.fpc")]) == 0
        frames, durations, info = read_video(inp)
        out[key] = (work, inp, work / "video.fpc", frames, durations, info)
    return out


def test_encoded_stream_is_lossless(encoded):
    for _work, _inp, fpc, frames, durations, info in encoded.values():
        video = decode(fpc.read_bytes())
        assert_frames_equal(video.frames, frames)
        assert video.durations == durations and video.loop == info.loop == 0
        assert video.time_base == info.time_base
    assert encoded["rgba"][3][0].shape[2] == 4


def test_info(encoded):
    work, inp, fpc, frames, durations, info = encoded["rgb"]
    proc = run_cli("info", fpc)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "5 x 100x100 RGB" in out
    assert "time base 1/100" in out and "4.100 s total" in out and "loop forever" in out
    from fpcodec.models import registry

    assert f"{registry.DEFAULT_MODEL} (id " in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("frame  mode"))
    table = lines[header + 1 :]
    assert len(table) == 5
    assert [float(line.split()[2]) for line in table] == [float(d * info.time_base * 1000) for d in durations]
    assert "duration ms" in lines[header] and "(10 ms per tick)" in out


def test_info_into_a_closed_pipe_is_quiet(encoded):
    """`fpcodec info x.fpc | head -1`: a reader that stops early is not an error to report; the
    exit status is the shell's for a process killed by SIGPIPE."""
    import subprocess

    proc = subprocess.Popen(
        fpcodec_command() + ["info", str(encoded["rgb"][2])], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # before the command has imported anything, let alone written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and err == "", err


def test_info_in_process(encoded, capsys):
    code, out, err = run_main(capsys, "info", "-q", encoded["rgb"][2])
    assert code == 0 and err == "" and "5 x 100x100 RGB" in out and "frame  mode" not in out
    code, out, err = run_main(capsys, "info", encoded["rgba"][2])
    assert code == 0 and "5 x 100x100 RGBA" in out and "frame  mode" in out
    assert f"format version {VERSION}" in out


def test_info_names_an_older_format_version(capsys):
    from pathlib import Path

    fixture = Path(__file__).parent / "data" / "v3_stream.fpc"
    code, out, err = run_main(capsys, "info", "-q", str(fixture))
    assert code == 0 and err == "" and "format version 3" in out and "7 x 32x32 RGB" in out


@pytest.mark.parametrize("key", ["rgb", "rgba"])
@pytest.mark.parametrize("target", ["out.gif", "out.apng", "out.webp", "frames_%04d.png"])
def test_decode_targets_are_exact(encoded, key, target, capsys):
    """RGB to GIF and PNGs through the console script, the rest through main() in-process."""
    work, inp, fpc, frames, durations, info = encoded[key]
    out_dir = work / f"dec_{target.split('.')[-1]}"
    out_dir.mkdir()
    if key == "rgb" and target in ("out.gif", "frames_%04d.png"):
        proc = run_cli("decode", fpc, "-o", out_dir / target)
        assert proc.returncode == 0, proc.stderr
        stderr = proc.stderr
    else:
        code, _, stderr = run_main(capsys, "decode", fpc, "-o", out_dir / target)
        assert code == 0, stderr
    rgba = frames[0].shape[2] == 4
    mode = "RGBA" if rgba else "RGB"
    if target.endswith(".png"):
        assert stderr.startswith("fpcodec: warning:")  # a sequence has no timing
        names = sorted(dir_listing(out_dir))
        assert names == [f"frames_{i:04d}.png" for i in range(5)]
        got = [np.array(Image.open(out_dir / n)) for n in names]
        assert_frames_equal(got, frames)
        return
    assert stderr == ""  # exact targets: no warnings
    assert dir_listing(out_dir) == {target}
    path = out_dir / target
    if target.endswith(".gif"):
        got, got_durations, got_info = read_video(path)  # through fpcodec's own reader
        assert got_durations == durations and got_info.time_base == info.time_base
        assert got_info.loop == info.loop
    else:
        got, ms = pillow_frames(path, mode)
        assert [int(m) for m in ms] == [int(d * info.time_base * 1000) for d in durations]
    if rgba and not target.endswith(".apng"):  # colour under alpha 0 is not kept
        got, frames = [clear_transparent(g) for g in got], [clear_transparent(f) for f in frames]
    assert_frames_equal(got, frames)


def test_decode_apng_reads_back_with_video_reader(encoded, capsys):
    work, inp, fpc, frames, durations, info = encoded["rgb"]
    out = work / "via_reader.apng"
    assert run_main(capsys, "decode", fpc, "-o", out)[0] == 0
    got, got_durations, got_info = read_video(out)
    assert_frames_equal(got, frames)
    assert [d * got_info.time_base for d in got_durations] == [d * info.time_base for d in durations]


def test_decode_default_output_name(encoded, tmp_path, capsys):
    fpc = tmp_path / "clip.fpc"
    shutil.copyfile(encoded["rgb"][2], fpc)
    code, out, err = run_main(capsys, "decode", "-q", fpc)
    assert code == 0, err
    assert out == ""
    assert dir_listing(tmp_path) == {"clip.fpc", "clip.apng"}
    assert_frames_equal(pillow_frames(tmp_path / "clip.apng", "RGB")[0], encoded["rgb"][3])


def test_decode_refuses_to_overwrite_without_force(encoded, tmp_path, capsys):
    fpc = encoded["rgb"][2]
    out = tmp_path / "exists.gif"
    out.write_bytes(b"precious")
    proc = run_cli("decode", fpc, "-o", out)
    line = assert_clean_error(proc)
    assert "exists" in line and "-y" in line
    assert out.read_bytes() == b"precious"
    assert dir_listing(tmp_path) == {"exists.gif"}
    code, _, err = run_main(capsys, "decode", fpc, "-o", out, "-y")
    assert code == 0, err
    assert_frames_equal(read_video(out)[0], encoded["rgb"][3])
    assert dir_listing(tmp_path) == {"exists.gif"}


def test_encode_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "x.fpc"
    out.write_bytes(b"precious")
    assert "exists" in assert_main_error(capsys, "encode", ODD / "transparent_dispose.gif", "-o", out)
    assert out.read_bytes() == b"precious"
    code, stdout, err = run_main(
        capsys, "encode", ODD / "transparent_dispose.gif", "-o", out, "--force", "-q", "--device", "cpu"
    )
    assert code == 0 and stdout == "", err
    assert_frames_equal(decode(out.read_bytes()).frames, read_video(ODD / "transparent_dispose.gif")[0])


def test_decode_to_yuv_needs_lossy(encoded, tmp_path, capsys):
    line = assert_clean_error(run_cli("decode", encoded["rgb"][2], "-o", tmp_path / "v.mp4"))
    assert "--lossy" in line
    assert "--lossy" in assert_main_error(capsys, "decode", encoded["rgb"][2], "-o", tmp_path / "v.y4m")
    assert dir_listing(tmp_path) == set()


def test_decode_to_y4m_with_lossy_warns(encoded, tmp_path, capsys):
    out = tmp_path / "v.y4m"
    code, stdout, err = run_main(capsys, "decode", encoded["rgb"][2], "-o", out, "--lossy", "-q")
    assert code == 0, err
    assert err.startswith("fpcodec: warning:") and out.stat().st_size > 0


def test_decode_unsupported_target(encoded, tmp_path, capsys):
    assert_main_error(capsys, "decode", encoded["rgb"][2], "-o", tmp_path / "v.avi")
    assert dir_listing(tmp_path) == set()


# ------------------------------------------------------------------------------------ bad input
def test_encode_text_file(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    before = dir_listing(tmp_path)
    assert_main_error(capsys, "encode", text, "-o", tmp_path / "notes.fpc")
    assert_clean_error(run_cli("encode", text))  # default output name
    assert dir_listing(tmp_path) == before


def test_missing_files(tmp_path, capsys):
    for args in (
        ("encode", tmp_path / "nope.gif"),
        ("decode", tmp_path / "nope.fpc"),
        ("info", tmp_path / "nope.fpc"),
    ):
        assert "nope" in assert_main_error(capsys, *args)
    assert dir_listing(tmp_path) == set()


@pytest.mark.parametrize("name", BROKEN_GIFS)
def test_encode_broken_gifs(tmp_path, name, capsys):
    src = tmp_path / name
    shutil.copyfile(ODD / name, src)
    if name == "decompression_bomb.gif":
        assert_clean_error(run_cli("encode", src, "-o", tmp_path / "out.fpc"))
    else:
        assert_main_error(capsys, "encode", src, "-o", tmp_path / "out.fpc")
    assert dir_listing(tmp_path) == {name}


def test_encode_gif_with_frame_outside_the_screen(tmp_path, capsys):
    """Whatever the reader makes of it, the encoder refuses inconsistent frames cleanly."""
    data = bytearray((ODD / "transparent_dispose.gif").read_bytes())
    data[81] = 16  # third frame moved to y=16
    src = tmp_path / "outside.gif"
    src.write_bytes(bytes(data))
    assert_main_error(capsys, "encode", src, "-o", tmp_path / "o.fpc")
    assert dir_listing(tmp_path) == {"outside.gif"}


def test_truncated_fpc(encoded, tmp_path, capsys):
    data = encoded["rgb"][2].read_bytes()
    cut = tmp_path / "half.fpc"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in assert_clean_error(run_cli("decode", cut, "-o", tmp_path / "half.apng"))
    for n in (0, 5, 12, 40, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{n}.fpc"
        cut.write_bytes(data[:n])
        assert_main_error(capsys, "info", cut)
        assert_main_error(capsys, "decode", cut, "-o", tmp_path / f"cut{n}.apng")
        assert not (tmp_path / f"cut{n}.apng").exists()
    assert not (tmp_path / "half.apng").exists()


def test_decode_a_gif_instead_of_an_fpc(tmp_path, capsys):
    line = assert_main_error(capsys, "decode", RGB_INPUT, "-o", tmp_path / "x.apng")
    assert "not an fpcodec stream" in line
    assert dir_listing(tmp_path) == set()


def test_absurd_max_pixels_on_encode(tmp_path):
    src = tmp_path / "carphone.gif"
    shutil.copyfile(CARPHONE, src)
    line = assert_clean_error(run_cli("encode", src, "-o", tmp_path / "c.fpc", "--max-pixels", "10"))
    assert "96x96" in line and "--max-pixels" in line
    assert dir_listing(tmp_path) == {"carphone.gif"}  # no output, no temp file


def test_max_pixels_on_decode(encoded, tmp_path, capsys):
    fpc = encoded["rgb"][2]
    assert "10000" in assert_main_error(
        capsys, "decode", fpc, "-o", tmp_path / "x.apng", "--max-pixels", "9999"
    )
    assert dir_listing(tmp_path) == set()
    code, _, err = run_main(capsys, "decode", fpc, "-o", tmp_path / "x.apng", "--max-pixels", "10000")
    assert code == 0, err


def test_output_in_missing_directory(tmp_path, capsys):
    assert_main_error(
        capsys, "encode", ODD / "transparent_dispose.gif", "-o", tmp_path / "no" / "dir" / "x.fpc"
    )
    assert dir_listing(tmp_path) == set()


def test_usage_errors_are_one_line_with_exit_2(tmp_path, capsys):
    """The documented rule: a wrong command line is one ``fpcodec: error:`` line and exit status 2
    (other errors exit 1); main() returns the status instead of raising SystemExit."""
    proc = run_cli("encode")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("fpcodec: error: ") and "input" in proc.stderr
    for args in (
        [],
        ["frobnicate", "x"],
        ["encode", "x.gif", "-m", "no-such-model"],
        ["decode", "x.fpc", "--format", "tiff"],
        ["bench", "-o", "r"],
        ["train", "d"],
    ):
        code, out, err = run_main(capsys, *args)
        assert code == 2 and out == "", args
        assert err.startswith("fpcodec: error: ") and err.count("\n") == 1, (args, err)
        assert "-h" in err, err


# ------------------------------------------------------------------------------------ in-process
def test_main_in_process_info_and_decode(encoded, tmp_path, capsys):
    from fpcodec.codec.cli import main

    fpc = encoded["rgb"][2]
    assert main(["info", "-q", str(fpc)]) == 0
    assert "5 x 100x100 RGB" in capsys.readouterr().out
    out = tmp_path / "in_process.apng"
    assert main(["decode", "-q", str(fpc), "-o", str(out), "--device", "cpu"]) == 0
    assert_frames_equal(pillow_frames(out, "RGB")[0], encoded["rgb"][3])
    capsys.readouterr()
    assert main(["decode", "-q", str(fpc), "-o", str(out)]) == 1  # exists
    err = capsys.readouterr().err
    assert err.startswith("fpcodec: error:") and err.count("\n") == 1


def test_main_in_process_bad_stream(tmp_path, capsys):
    from fpcodec.codec.cli import main

    bad = tmp_path / "bad.fpc"
    bad.write_bytes(b"\x89FPC\r\n\x1a\n\x63\x00\x00\x00")  # version 99
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fpcodec: error:") and "version 99" in err and err.count("\n") == 1


@pytest.mark.parametrize("exc,code", [("input", 1), ("interrupt", 130), ("memory", 1), ("thread", 1)])
def test_main_in_process_encode_failure_leaves_no_file(tmp_path, capsys, monkeypatch, exc, code):
    """An encode that fails half-way (bad frame, Ctrl-C, out of memory) leaves neither output nor
    temp file, and says so in one line."""
    from fpcodec.bitstream.errors import InputError
    from fpcodec.codec import pipeline
    from fpcodec.codec.cli import main

    real_write = pipeline.Encoder.write

    def failing_write(self, frame, duration=0):
        if self.frames_written == 2:
            raise {
                "input": InputError("simulated bad frame"),
                "memory": MemoryError(),
                "thread": RuntimeError("can't start new thread"),  # no stack for a thread: ulimit -v
            }.get(exc, KeyboardInterrupt())
        return real_write(self, frame, duration)

    monkeypatch.setattr(pipeline.Encoder, "write", failing_write)
    src = tmp_path / "in.gif"
    shutil.copyfile(RGB_INPUT, src)
    assert main(["encode", "-q", str(src), "-o", str(tmp_path / "out.fpc"), "--device", "cpu"]) == code
    err = capsys.readouterr().err
    assert err.startswith("fpcodec: ") and err.count("\n") == 1
    assert exc not in ("memory", "thread") or "out of memory" in err
    assert dir_listing(tmp_path) == {"in.gif"}


@pytest.mark.parametrize("target", ["out.apng", "frames_%02d.png", "out.y4m", "out.gif", "out.webp"])
def test_decode_streams_frames_to_the_writer(tmp_path, capsys, monkeypatch, target):
    """Memory stays flat on long videos: ``fpcodec decode`` hands the writer one frame at a time, and
    a frame is gone by the time a later one is decoded (the decoder keeps only its 5-frame
    history), for every output format. The output is still the whole video."""
    import weakref

    from fpcodec.codec import encode, io
    from fpcodec.models.base import HISTORY

    frames = read_video(CARPHONE)[0][:12]
    stream = tmp_path / "v.fpc"
    stream.write_bytes(encode(frames, model="last-frame"))
    alive: list[int] = []
    write_frames = io.write_frames

    def watching(path, frames, *args, **kwargs):
        refs = []

        def watched():
            for f in frames:
                refs.append(weakref.ref(f))
                alive.append(sum(r() is not None for r in refs))
                yield f

        return write_frames(path, watched(), *args, **kwargs)

    monkeypatch.setattr(io, "write_frames", watching)
    out = tmp_path / target
    code, stdout, _ = run_main(capsys, "decode", stream, "-o", out, "--lossy")
    assert code == 0 and "12 frames 96x96" in stdout
    assert len(alive) == 12 and max(alive) <= HISTORY + 1
    if target.endswith((".apng", ".gif", ".webp")):  # WebP: through Pillow, FFmpeg refuses animations
        assert_frames_equal(read_video(out)[0], frames)
    elif "%" in target:
        assert_frames_equal(
            [np.array(Image.open(tmp_path / f"frames_{i:02d}.png")) for i in range(12)], frames
        )
    else:
        assert len(read_video(out)[0]) == 12


def test_decode_to_webp_and_encode_it_again(encoded, tmp_path, capsys):
    """What ``fpcodec decode`` writes it reads back: an animated WebP (which FFmpeg refuses) is
    encoded from the frames Pillow composites, and decodes to them exactly."""
    from fpcodec.codec.cli import main

    webp, again, out = tmp_path / "v.webp", tmp_path / "again.fpc", tmp_path / "again.apng"
    assert main(["decode", "-q", str(encoded["rgb"][2]), "-o", str(webp)]) == 0
    assert main(["encode", "-q", str(webp), "-o", str(again), "-m", "last-frame"]) == 0
    assert main(["decode", "-q", str(again), "-o", str(out)]) == 0
    frames, ms = pillow_frames(out, "RGB")
    assert_frames_equal(frames, encoded["rgb"][3])
    assert_frames_equal(frames, pillow_frames(webp, "RGB")[0])
    assert ms == pillow_frames(webp, "RGB")[1]
    capsys.readouterr()
