"""The command line as a new user meets it (issue 18): output checks before any work, ``-`` for
stdin/stdout, ``--version``, help texts, error wordings, ``info``'s words, ``train``'s options."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from fpcodec.codec import decode, encode

from conftest import CARPHONE, ODD, assert_frames_equal, dir_listing, fpcodec_command, read_video, run_main

GIF = ODD / "dispose_prev.gif"  # 100x100, 5 frames


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fpcodec: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """(frames, .fpc path) of GIF, coded with last-frame (quick)."""
    frames = read_video(GIF)[0]
    path = tmp_path_factory.mktemp("conv") / "v.fpc"
    path.write_bytes(encode(frames, model="last-frame"))
    return frames, path


@pytest.fixture
def no_work(monkeypatch):
    """Makes reading the input or opening a decoder fail loudly: the checks must come first."""
    from fpcodec.codec import io as codec_io
    from fpcodec.codec import pipeline

    def boom(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(codec_io, "VideoReader", boom)
    monkeypatch.setattr(pipeline, "Decoder", boom)


# ---------------------------------------------------------------------------------- conventions
def test_version(capsys):
    from fpcodec.bitstream.container import VERSION

    code, out, err = run_main(capsys, "--version")
    assert code == 0 and err == ""
    assert out.startswith("fpcodec 0.") and f"format version {VERSION}" in out


def test_the_version_is_read_only_when_asked_for(monkeypatch, capsys):
    """Reading the package's metadata took 17 ms: commands other than --version do not."""
    from fpcodec.codec import cli

    asked = []
    monkeypatch.setattr(cli, "_version", lambda: asked.append(1) or "fpcodec x")
    assert run_main(capsys, "decode", "--help")[0] == 0 and not asked
    assert run_main(capsys, "--version") == (0, "fpcodec x\n", "") and asked == [1]


def test_a_progress_bar_only_on_a_terminal(monkeypatch):
    """A do-nothing bar where none shows (with -q, or when stderr is not a terminal), so that tqdm
    (14 ms to import) is not needed there; tqdm's bar on a terminal."""
    import io

    from tqdm import tqdm

    from fpcodec.codec import cli

    tty = io.StringIO()
    tty.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", tty)
    with cli._progress(2, "decode", quiet=True) as bar:
        assert isinstance(bar, cli._NoBar)
        bar.update()
    with cli._progress(2, "decode", quiet=False) as bar:
        assert isinstance(bar, tqdm)
        bar.update()
    assert "decode" in tty.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    assert isinstance(cli._progress(2, "decode", quiet=False), cli._NoBar)


def test_encode_help_lists_each_model_once_with_the_default(capsys):
    from fpcodec.models import registry

    code, out, _ = run_main(capsys, "encode", "-h")
    assert code == 0
    lines = out.splitlines()
    for name in registry.available():
        described = [line for line in lines if line.strip().split(" ")[0] == name]
        assert len(described) == 1, (name, described)
        assert len(described[0].split(name, 1)[1].strip()) > 10, described  # a description follows
    defaults = [line for line in lines if "(default)" in line]
    assert len(defaults) == 1 and defaults[0].split()[0] == registry.DEFAULT_MODEL
    assert "{" not in out  # the choices are not dumped as a set


def test_decode_help_says_what_happens_without_output(capsys):
    code, out, _ = run_main(capsys, "decode", "-h")
    assert code == 0 and "default: INPUT" in " ".join(out.split()) and "--format" in out


def test_train_takes_output_and_quiet_and_the_old_spellings(capsys, tmp_path, monkeypatch):
    import argparse

    from fpcodec.models.training import train

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    help_text = parser.format_help()
    assert "--output" in help_text and "-q, --quiet" in help_text
    assert "--out " not in help_text and "--no-progress" not in help_text  # hidden aliases
    for argv in (["-o", "w.st", "-q"], ["--out", "w.st", "--no-progress"], ["--output", "w.st", "--quiet"]):
        args = parser.parse_args(["d", "--model", "conv2d"] + argv)
        assert args.out == "w.st" and args.no_progress
    for action in parser._actions:  # every option says what it does
        assert action.help, action.option_strings
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("trained before checking -o"))
    code, _, err = run_main(capsys, "train", tmp_path, "--model", "conv2d", "-o", tmp_path / "no" / "w.st")
    assert code == 1 and "does not exist" in one_error_line(err)


# ---------------------------------------------------------------------------- early output checks
def test_encode_checks_the_output_before_reading(tmp_path, capsys, no_work):
    missing = tmp_path / "nodir" / "x.fpc"
    line = one_error_line(run_main(capsys, "encode", GIF, "-o", missing)[2])
    assert str(missing) in line and "nodir does not exist" in line and ".x.fpc." not in line
    line = one_error_line(run_main(capsys, "encode", GIF, "-o", tmp_path)[2])
    assert "is a folder" in line
    (tmp_path / "x.fpc").write_bytes(b"keep")
    assert "exists" in one_error_line(run_main(capsys, "encode", GIF, "-o", tmp_path / "x.fpc")[2])
    assert dir_listing(tmp_path) == {"x.fpc"}


def test_decode_checks_the_output_before_decoding(stream, tmp_path, capsys, no_work):
    _, fpc = stream
    for target, words in (
        (tmp_path / "nodir" / "x.gif", "nodir does not exist"),
        (tmp_path / "x.txt", "unsupported output format '.txt'"),
        (tmp_path / "x.mp4", "--lossy"),
        (tmp_path, "is a folder"),
        ("-", "needs --format"),
    ):
        line = one_error_line(run_main(capsys, "decode", fpc, "-o", target)[2])
        assert words in line, line
    line = one_error_line(run_main(capsys, "decode", fpc, "-o", tmp_path / "x.gif", "--format", "webp")[2])
    assert "does not match" in line
    assert dir_listing(tmp_path) == set()


def test_stream_named_like_an_image_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "z.gif"
    line = one_error_line(run_main(capsys, "encode", GIF, "-o", out, "-m", "last-frame")[2])
    assert "z.gif" in line and ".fpc" in line and "-y" in line
    assert dir_listing(tmp_path) == set()
    code, _, err = run_main(capsys, "encode", GIF, "-o", out, "-m", "last-frame", "-y", "-q")
    assert code == 0, err
    assert_frames_equal(decode(out.read_bytes()).frames, read_video(GIF)[0])


# --------------------------------------------------------------------------------- stdin, stdout
class _Pipe(io.TextIOWrapper):
    """A text stream over bytes, like sys.stdin/sys.stdout, whose ``buffer`` the test can read."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")


def test_stdin_and_stdout_in_process(stream, tmp_path, capsys, monkeypatch):
    frames, fpc = stream
    monkeypatch.setattr(sys, "stdin", _Pipe(GIF.read_bytes()))
    monkeypatch.setattr(sys, "stdout", out := _Pipe())
    from fpcodec.codec.cli import main

    assert main(["encode", "-", "-o", "-", "-m", "last-frame"]) == 0
    coded = out.buffer.getvalue()
    video = decode(coded)
    assert_frames_equal(video.frames, frames)
    assert video.loop == 0 and video.durations == read_video(GIF)[1]  # timing from the GIF on stdin
    err = capsys.readouterr().err
    assert err.startswith("stdout: 5 frames 100x100") and f"{len(coded)} bytes" in err  # summary on stderr

    for fmt in ("apng", "gif", "webp"):
        monkeypatch.setattr(sys, "stdin", _Pipe(coded))
        monkeypatch.setattr(sys, "stdout", out := _Pipe())
        assert main(["decode", "-", "-o", "-", "--format", fmt, "-q"]) == 0
        path = tmp_path / f"from_stdout.{fmt}"
        path.write_bytes(out.buffer.getvalue())
        if fmt == "webp":  # FFmpeg does not read animated WebP
            from PIL import Image, ImageSequence

            with Image.open(path) as im:
                got = [np.array(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
        else:
            got = read_video(path)[0]
        assert_frames_equal(got, frames)
    assert dir_listing(tmp_path) == {"from_stdout.apng", "from_stdout.gif", "from_stdout.webp"}

    monkeypatch.setattr(sys, "stdin", _Pipe(coded))
    monkeypatch.setattr(sys, "stdout", out := _Pipe())
    assert main(["info", "-", "-q"]) == 0
    out.flush()
    assert "file:        stdin (" in out.buffer.getvalue().decode()
    assert "5 x 100x100 RGB" in out.buffer.getvalue().decode()


def test_binary_output_to_a_terminal_is_refused(capsys, monkeypatch, stream):
    monkeypatch.setattr(sys, "stdout", _Pipe())
    monkeypatch.setattr(sys.stdout.buffer, "isatty", lambda: True)  # what a terminal says
    for args in (["encode", GIF, "-o", "-"], ["decode", stream[1], "-o", "-", "--format", "gif"]):
        code, _, err = run_main(capsys, *args)
        assert code == 1 and "stdout is a terminal" in one_error_line(err)
    assert sys.stdout.buffer.getvalue() == b""


def test_stdin_without_output_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Pipe(b""))
    for cmd in ("encode", "decode"):
        code, _, err = run_main(capsys, cmd, "-")
        assert code == 2 and "-o" in one_error_line(err)


def test_errors_about_stdin_name_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", _Pipe(b"hello, not a video\n"))
    code, _, err = run_main(capsys, "encode", "-", "-o", "-")
    line = one_error_line(err)
    assert code == 1 and line == "fpcodec: error: stdin is a text file, not a GIF or video"


def test_pipe_between_two_processes(tmp_path):
    """``fpcodec encode in.gif -o - | fpcodec decode - -o out.apng`` with the real console script."""
    enc = subprocess.run(
        fpcodec_command() + ["encode", str(GIF), "-o", "-", "-m", "last-frame", "-q"],
        capture_output=True,
        timeout=300,
    )
    assert enc.returncode == 0 and enc.stderr == b"", enc.stderr
    assert enc.stdout[:4] == b"\x89FPC"
    out = tmp_path / "out.apng"
    dec = subprocess.run(
        fpcodec_command() + ["decode", "-", "-o", str(out)],
        input=enc.stdout,
        capture_output=True,
        timeout=300,
    )
    assert dec.returncode == 0, dec.stderr
    assert_frames_equal(read_video(out)[0], read_video(GIF)[0])


def test_the_process_exits_with_mains_code_and_one_line(tmp_path):
    """``cli.console`` (the process's entry: ``main``, then an exit that skips the last garbage
    collections) keeps main's exit code and its one-line error, and writes no partial output."""
    text = tmp_path / "x.fpc"
    text.write_text("just some text\n")
    out = tmp_path / "out.apng"
    run = subprocess.run(
        fpcodec_command() + ["decode", str(text), "-o", str(out)], capture_output=True, timeout=300
    )
    assert run.returncode == 1 and not out.exists()
    assert one_error_line(run.stderr.decode()).startswith("fpcodec: error: ")


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_start_up_without_collection_ends_at_the_first_frame(stream, tmp_path, capsys, command):
    """``console`` starts ``encode`` and ``decode`` with garbage collection off (``_started``):
    the command's first frame turns it back on, having frozen what start-up made; a ``main``
    called in-process leaves the collector alone."""
    import gc

    from fpcodec.codec import cli

    frames, path = stream
    args = [path, "-o", tmp_path / "out.gif"] if command == "decode" else [GIF, "-o", tmp_path / "o.fpc"]
    args = [command, *args, "-m", "last-frame"] if command == "encode" else [command, *args]
    frozen = gc.get_freeze_count()
    assert run_main(capsys, *args, "-q", "-y")[0] == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen  # in-process: untouched
    gc.disable()
    cli._collection_deferred = True  # as console sets it
    try:
        assert run_main(capsys, *args, "-q", "-y")[0] == 0
        assert gc.isenabled() and not cli._collection_deferred
        assert gc.get_freeze_count() > frozen
    finally:
        cli._collection_deferred = False
        gc.enable()
        gc.unfreeze()


# --------------------------------------------------------------------------------- error wording
def test_error_wording_in_the_users_words(tmp_path, capsys):
    text = tmp_path / "x.gif"
    text.write_text("just some text\n")
    assert one_error_line(run_main(capsys, "encode", text, "-o", tmp_path / "x.fpc")[2]).endswith(
        "x.gif is a text file, not a GIF or video"
    )
    line = one_error_line(run_main(capsys, "info", CARPHONE)[2])
    assert "is a GIF image" in line and "fpcodec encode" in line and "not an fpcodec stream" in line
    for cmd in ("encode", "info", "decode"):
        line = one_error_line(run_main(capsys, cmd, tmp_path)[2])
        assert "is a folder" in line and "no such file" not in line, line
    assert "does not exist" in one_error_line(run_main(capsys, "encode", tmp_path / "nope.gif")[2])
    assert dir_listing(tmp_path) == {"x.gif"}


def test_sniff_names_formats():
    from fpcodec.codec.sniff import describe

    assert describe(b"GIF89a\x01\x00") == "a GIF image"
    assert describe(b"RIFF\x00\x00\x00\x00WEBPVP8L") == "a WebP image"
    assert describe(b"\x00\x00\x00\x18ftypisom") == "an MP4/MOV video"
    assert describe(b"\x89FPC\r\n\x1a\n\x05") == "an fpcodec stream"
    assert describe("héllo".encode()[:2]) == "a text file"  # cut inside a UTF-8 character
    assert describe(b"") == "empty" and describe(bytes(range(256))) is None


# ---------------------------------------------------------------------------------------- info
def test_info_words(tmp_path, capsys):
    one = tmp_path / "one.fpc"
    one.write_bytes(encode(read_video(GIF)[0][:1], durations=[7], model="last-frame"))
    code, out, err = run_main(capsys, "info", one)
    assert code == 0, err
    assert "frames:      1 x 100x100" in out and "no weights" in out and "weights sha256" not in out
    assert "time base 1/100 s" in out and "duration ms" in out
    code, out, err = run_main(capsys, "encode", GIF, "-o", tmp_path / "w.fpc", "-m", "last-frame")
    assert code == 0 and "5 frames" in out
    src = tmp_path / "single.gif"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src)
    code, out, err = run_main(capsys, "encode", src, "-o", tmp_path / "s.fpc", "-m", "last-frame")
    assert code == 0 and "s.fpc: 1 frame 8x8" in out, (out, err)
