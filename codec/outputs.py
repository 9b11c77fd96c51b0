"""Output checks that run before any work, and ``-`` for stdin/stdout.

A decode that runs for a minute and then finds the output folder missing (and names a hidden temp
file) wastes the user's time; so the commands check the path the user typed first: its folder, its
format, an existing file without ``-y``. ``-`` means stdin or stdout, as in ffmpeg, cwebp and
gifsicle; the codec's readers and writers want seekable files, so a piped input is copied to a
temporary file (memory stays flat) and a decoded output is written to one and then copied out.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ..bitstream.errors import FpcodecError
from .io import VIDEO_EXTENSIONS

#: What the user types for stdin or stdout.
STDIO = "-"
#: Formats ``fpcodec decode`` writes, by extension (also the choices of ``--format``).
FRAME_FORMATS = ("gif", "apng", "png", "webp", "y4m", "mp4", "mkv")
#: Formats a planar stream (version 7) is written to in its own pixel format, sample for sample.
PLANAR_FORMATS = ("y4m", "mkv")
#: Formats that store YUV and so change pixels (they need ``--lossy``).
LOSSY_FORMATS = ("y4m", "mp4")
#: Extensions of images and videos: an fpcodec stream given one of these names would be mistaken
#: for one (cwebp refuses such names the same way).
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | {
    ".png",
    ".webp",
    ".jpg",
    ".jpeg",
    ".jxl",
    ".avif",
    ".bmp",
    ".tif",
    ".tiff",
}


def check_output(path: str, *, force: bool) -> None:
    """Refuse an output path that cannot be written, before any work; errors name ``path`` as typed."""
    if path == STDIO:
        isatty = getattr(binary_stdout(), "isatty", None)
        if isatty is not None and isatty():
            raise FpcodecError("stdout is a terminal: redirect it to a file or a pipe for -o -")
        return
    if not path:
        raise FpcodecError("empty output file name")
    p = Path(path)
    if p.is_dir():
        raise FpcodecError(f"{path} is a folder; give a file name inside it")
    parent = p.parent
    if not parent.exists():
        raise FpcodecError(f"cannot write {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise FpcodecError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FpcodecError(f"cannot write {path}: no permission to create files in {parent}")
    if p.exists() and not force:
        raise FpcodecError(f"{path} exists (use -y/--force to overwrite)")


def check_stream_name(path: str, *, force: bool) -> None:
    """Refuse to give an fpcodec stream an image or video extension (``-o z.gif``) unless forced."""
    if path == STDIO or force:
        return
    ext = Path(path).suffix.lower()
    if ext in MEDIA_EXTENSIONS:
        raise FpcodecError(
            f"{path}: an fpcodec stream named {ext} would pass for a {ext[1:].upper()} "
            f"file; name it .fpc (decode writes {ext} files), or use -y/--force to "
            "write it anyway"
        )


def frame_format(path: str, fmt: str | None) -> str:
    """The format ``decode`` writes: ``fmt`` (``--format``) or the extension; ``pattern`` for a PNG
    sequence. Raises for stdout without ``--format``, an unknown format, or a disagreement."""
    if fmt is not None and fmt not in FRAME_FORMATS:
        raise FpcodecError(f"unknown --format {fmt!r} (choose from {', '.join(FRAME_FORMATS)})")
    if path == STDIO:
        if fmt is None:
            raise FpcodecError(f"decoding to stdout needs --format ({', '.join(FRAME_FORMATS)})")
        return fmt
    name = Path(path).name
    if "%" in name:
        try:
            name % 0
        except (TypeError, ValueError):
            raise FpcodecError(f"bad frame pattern {path!r} (expected e.g. frames_%04d.png)") from None
        found = "pattern"
    else:
        found = Path(path).suffix.lower().lstrip(".")
        if found not in FRAME_FORMATS:
            raise FpcodecError(
                f"unsupported output format {('.' + found) if found else name!r} "
                f"(choose from {', '.join('.' + f for f in FRAME_FORMATS)} or a "
                "frames_%04d.png pattern)"
            )
    if fmt is not None and fmt != found and not (found == "pattern" and fmt == "png"):
        raise FpcodecError(f"--format {fmt} does not match the output name {path}")
    return found


def check_frames_output(path: str, fmt: str | None, *, force: bool, lossy: bool, planar: bool = False) -> str:
    """Everything ``decode`` can check about its output before decoding; returns the format.
    ``planar``: the stream is planar, which .y4m and .mkv hold exactly."""
    if path != STDIO and Path(path).is_dir():
        raise FpcodecError(f"{path} is a folder; give a file name inside it")
    found = frame_format(path, fmt)
    if found in LOSSY_FORMATS and not lossy and not (planar and found in PLANAR_FORMATS):
        raise FpcodecError(
            f"{path}: .{found} stores frames in YUV and would change pixels; use .apng, "
            ".webp, .gif, .mkv or a PNG sequence, or pass --lossy to accept it"
        )
    if found == "pattern":
        first = str(Path(path).parent / (Path(path).name % 0))
        check_output(first, force=force)
    else:
        check_output(path, force=force)
    return found


def binary_stdout() -> BinaryIO:
    """The byte stream under sys.stdout (tests may put a BytesIO-backed wrapper there)."""
    return getattr(sys.stdout, "buffer", sys.stdout)


@contextmanager
def readable_path(path: str, suffix: str = "") -> Iterator[str]:
    """``path`` itself, or for ``-`` a temporary file holding all of stdin (removed afterwards)."""
    if path != STDIO:
        yield path
        return
    src = getattr(sys.stdin, "buffer", sys.stdin)
    fd, tmp = tempfile.mkstemp(prefix="fpcodec-stdin-", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
        yield tmp
    finally:
        os.unlink(tmp)


@contextmanager
def stdout_via_file(fmt: str) -> Iterator[str]:
    """A temporary ``out.<fmt>`` to write; copied to stdout when the block succeeds."""
    with tempfile.TemporaryDirectory(prefix="fpcodec-stdout-") as tmp:
        path = os.path.join(tmp, f"out.{fmt}")
        yield path
        out = binary_stdout()
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, out, 1 << 20)
        out.flush()


def display_name(path: str, stdio: str = "stdin") -> str:
    """How messages name ``path``: ``stdio`` ("stdin" or "stdout") for ``-``."""
    return stdio if path == STDIO else path
