"""A one-line note before numba compiles fpcodec's kernels, which happens on a machine's first run.

numba compiles each kernel the first time a machine meets it (2-5 s a kernel; the README's first
example encodes in about 38 s the first time and 8 s afterwards) and caches it next to the module.
A user who sees nothing for half a minute thinks the command hangs, so the CLI asks for a note
(``set_note``) and ``table_kernel.first_call`` gives it (``before_compile``) just before the first
kernel whose cache is missing; once per process. numba-free, so that the CLI can set it without
importing numba.
"""

from __future__ import annotations

from typing import Callable

_note: Callable[[], None] | None = None


def set_note(note: Callable[[], None] | None) -> None:
    """Call ``note`` (once) before the first kernel this process compiles; None: no note."""
    global _note
    _note = note


def before_compile() -> None:
    """A kernel is about to be compiled: give the note, if one was asked for and not yet given."""
    global _note
    note, _note = _note, None
    if note is not None:
        note()
