"""The note before numba compiles (a machine's first run): given once, only where a kernel's cache
is missing, and only asked for by a CLI that shows progress (not quiet, stderr a terminal)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from conftest import DATA

from fpcodec.bitstream import compile_note, table_kernel
from fpcodec.codec import cli


class FakeKernel:
    """What ``first_call`` reads of a numba dispatcher."""

    def __init__(self, index_path: str) -> None:
        self.signatures: list = []
        self._cache = SimpleNamespace(_cache_file=SimpleNamespace(_index_path=index_path))


@pytest.fixture
def notes(monkeypatch):
    given: list[str] = []
    monkeypatch.setattr(compile_note, "_note", None)
    # first_call remembers kernels by id(): a fake kernel of an earlier test, freed, can leave its
    # id to a new one, which then counts as called already (the note test failed so, now and then)
    monkeypatch.setattr(table_kernel, "_CALLED", set())
    compile_note.set_note(lambda: given.append("note"))
    yield given
    compile_note.set_note(None)


def test_the_note_comes_once_before_the_first_kernel_without_a_cache(tmp_path, notes):
    cached = tmp_path / "k.nbi"
    cached.write_bytes(b"")
    kernels = [
        FakeKernel(str(p)) for p in (cached, tmp_path / "a.nbi", tmp_path / "b.nbi")
    ]  # alive: ids differ
    with table_kernel.first_call(kernels[0]):
        pass
    assert notes == []
    for kernel in kernels[1:]:  # two kernels to compile: one note
        with table_kernel.first_call(kernel):
            pass
    assert notes == ["note"]


def test_a_kernel_loaded_in_this_process_or_not_cached_by_numba_gives_no_note(tmp_path, notes):
    loaded = FakeKernel(str(tmp_path / "missing.nbi"))
    loaded.signatures = ["(int64,)"]
    with table_kernel.first_call(loaded):
        pass
    plain = SimpleNamespace(signatures=[])  # no numba cache at all
    with table_kernel.first_call(plain):
        pass
    assert notes == []


def test_numba_dispatchers_still_say_where_their_cache_index_is():
    """``_cached`` reads numba's private FunctionCache: if numba moved it, this fails (rather
    than the note silently never showing)."""
    index = table_kernel._table_rows._cache._cache_file._index_path
    assert isinstance(index, str) and index.endswith(".nbi")


@pytest.mark.parametrize(
    "quiet, tty, asked", [(False, True, True), (True, True, False), (False, False, False)]
)
def test_the_cli_asks_for_the_note_only_where_it_shows_progress(monkeypatch, capsys, quiet, tty, asked):
    calls = []
    monkeypatch.setattr(compile_note, "set_note", calls.append)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    argv = ["info", str(DATA / "v10_stream.fpc")] + (["-q"] if quiet else [])
    assert cli.main(argv) == 0
    assert calls == ([cli._compiling_note, None] if asked else [None])  # and taken back after
