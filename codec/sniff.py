"""What a file is, from its first bytes: for error messages in the user's words.

``fpcodec info carphone.gif`` should say that the file is a GIF (an input for ``encode``), not quote a
magic number; ``fpcodec encode notes.gif`` on a text file should say it is text. Nothing here decides
how a file is read; it only names it.
"""

from __future__ import annotations

import os

from ..bitstream.container import MAGIC

#: (prefix, offset, name) of the formats a user is likely to hand the wrong command.
_SIGNATURES = (
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG or APNG image"),
    (b"\x1aE\xdf\xa3", 0, "a Matroska/WebM video"),
    (b"ftyp", 4, "an MP4/MOV video"),
    (b"YUV4MPEG2", 0, "a Y4M video"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"\xff\x0a", 0, "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", 0, "a JPEG XL image"),
    (b"PK\x03\x04", 0, "a zip archive"),
)


def describe(head: bytes) -> str | None:
    """A phrase such as "a GIF image" for a file starting with ``head``, or None if unknown."""
    if head.startswith(MAGIC):
        return "an fpcodec stream"
    if not head:
        return "empty"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "a WebP image", b"AVI ": "an AVI video"}.get(head[8:12])
    for prefix, offset, name in _SIGNATURES:
        if head[offset : offset + len(prefix)] == prefix:
            return name
    for cut in range(4):  # the first bytes may end inside a UTF-8 character
        try:
            text = head[: len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    if all(ch.isprintable() or ch in "\t\r\n\f" for ch in text):
        return "a text file"
    return None


def describe_file(path: str | os.PathLike, size: int = 64) -> str | None:
    """``describe`` of a file's first ``size`` bytes (None when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return describe(fh.read(size))
    except OSError:
        return None


def input_kind(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be an input file: "is a folder", "does not exist", or None when it is a file."""
    if os.path.isdir(path):
        return "is a folder, not a file"
    if not os.path.isfile(path):
        return "does not exist" if not os.path.lexists(path) else "is not a regular file"
    return None
