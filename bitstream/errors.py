"""The project's error types. Every failure a user can cause surfaces as one of these."""

from __future__ import annotations

import errno
import re


class FpcodecError(Exception):
    """Base class: the CLI prints these as one line and exits non-zero."""


class FormatError(FpcodecError, ValueError):
    """The stream is not a valid fpcodec stream."""


class TruncatedStreamError(FormatError):
    """The stream ends before its end marker."""


class ChecksumError(FormatError):
    """A chunk or a reconstructed frame does not match its CRC32."""


class UnsupportedVersionError(FormatError):
    """The stream's format version is not one this build can read."""


class ModelMismatchError(FormatError):
    """The stream names a predictor or weights this installation does not have."""


class InputError(FpcodecError, ValueError):
    """The input to encode is unusable: not a video, no frames, absurd dimensions."""


class TableMismatchError(FpcodecError, RuntimeError):
    """This machine built coding tables that differ from the reference: it must not code streams."""


class WeightsError(FpcodecError, ValueError):
    """A weights file is unusable: not a safetensors file, another model's weights, or damaged."""


class WeightsMissingError(WeightsError):
    """A learned model's weights file is not there."""


class FpcodecWarning(UserWarning):
    """Base class of the warnings the CLI prints as one ``fpcodec: warning: ...`` line."""


class LargeFrameWarning(FpcodecWarning):
    """A frame is above the warning size (Pillow's DecompressionBombWarning convention)."""


class ConvertedSourceWarning(FpcodecWarning):
    """A video's pixel format is neither coded natively nor held exactly by RGB(A) frames: the
    stream keeps its RGB conversion, not the source's own samples."""


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is the machine's lack of memory: a MemoryError, ENOMEM from a mapping, a
    thread that could not start (CPython's RuntimeError when it gets no stack), or a library
    loaded on first use (numba's helpers) whose segments could not be mapped (the dynamic
    loader's ImportError, seen under ``ulimit -v 400000``). The payload decoders pass it on as it
    is (wrapped as a FormatError it would call the stream damaged), and the CLI says "out of
    memory"."""
    return (
        isinstance(exc, MemoryError)
        or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM)
        or (type(exc) is RuntimeError and str(exc) == "can't start new thread")
        or (isinstance(exc, ImportError) and _UNMAPPED.search(str(exc)) is not None)
    )


#: glibc's dlopen error when mmap fails; other causes (a noexec mount) name theirs after a colon.
_UNMAPPED = re.compile(r"failed to map segment from shared object(: Cannot allocate memory)?$")
