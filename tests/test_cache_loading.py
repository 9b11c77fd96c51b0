"""Kernels load from numba's cache without numba's lowering registries and without parsing their
bitcode (``cache_loading``) and decode the same frames; a cache miss after such loads still
compiles (with the registries, and linking the libraries loaded light); over another numba loader
nothing is replaced."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from conftest import DATA

from fpcodec.bitstream import cache_loading
from fpcodec.codec import cli
from fpcodec.codec.pipeline import Decoder

#: A decode in a new process: which of numba's registry modules it imported, and the frames' digest.
_DECODE = """
import hashlib, json, sys
from fpcodec.codec.pipeline import Decoder
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for frame in Decoder(f).frames():
        digest.update(frame.pixels.tobytes())
print(json.dumps({"digest": digest.hexdigest(),
                  "registries": sorted(m for m in ("numba.np.arraymath", "numba.np.linalg",
                                                   "numba.np.npyimpl") if m in sys.modules)}))
"""


def _run_script(script: str, *args: str, path=None) -> dict:
    """The JSON line a Python ``script`` prints last, run in a new process (with ``path``, where
    given, on its module path: the test's own kernel modules)."""
    env = os.environ if path is None else {**os.environ, "PYTHONPATH": str(path)}
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=env
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_a_cached_kernel_loads_without_the_registries_and_decodes_the_same_frames(tmp_path):
    stream = tmp_path / "c.fpc"
    assert cli.main(["encode", str(DATA / "carphonew_000_5f.gif"), "-o", str(stream), "-q"]) == 0
    first = _run_script(_DECODE, str(stream))  # compiles whatever the cache lacks (numba's registries)
    second = _run_script(_DECODE, str(stream))  # every kernel from the cache
    assert second["registries"] == []
    assert second["digest"] == first["digest"]
    digest = hashlib.sha256()
    with open(stream, "rb") as f:
        for frame in Decoder(f).frames():
            digest.update(frame.pixels.tobytes())
    assert second["digest"] == digest.hexdigest()


def test_install_replaces_only_the_checked_loader(monkeypatch):
    from numba.core import caching

    assert cache_loading.install()  # this numba's loader is the checked one (or already replaced)
    assert caching.Cache.load_overload.__wrapped__.__code__.co_names == cache_loading._CHECKED_NAMES

    def other_loader(self, sig, target_context):  # a numba whose loader does something else
        return self.load_something_else(sig, target_context)

    monkeypatch.setattr(cache_loading, "_installed", False)
    monkeypatch.setattr(caching.Cache, "load_overload", other_loader)
    assert not cache_loading.install()
    assert caching.Cache.load_overload is other_loader


#: A kernel of its own in a new process: compiled where the cache misses (after the fpcodec kernels
#: loaded without the registries), loaded from the cache the next time.
_OWN_KERNEL = """
import json, sys
import numpy as np
from fpcodec.bitstream import entropy
entropy.table_rows(np.array([0]), np.array([3]))  # a kernel of fpcodec's, from the cache
import own
print(json.dumps({"sum": own.total(np.arange(5.0)), "compiled": own.total.stats.cache_misses != {},
                  "registries": "numba.np.arraymath" in sys.modules}))
"""


def test_a_cache_miss_after_a_light_load_compiles_with_the_registries(tmp_path):
    (tmp_path / "own.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef total(a):\n"
        "    s = 0.0\n    for x in a:\n        s += x\n    return s\n"
    )

    first = _run_script(_OWN_KERNEL, path=tmp_path)
    assert first == {"sum": 10.0, "compiled": True, "registries": True}  # numba's compiler refreshed
    assert _run_script(_OWN_KERNEL, path=tmp_path) == {"sum": 10.0, "compiled": False, "registries": False}


#: In a new process: ``inner`` loaded from the cache (a light library: no bitcode parsed), then
#: ``outer``, which calls it, compiled where the cache misses: numba links ``inner``'s library
#: into ``outer``'s, which needs the bitcode after all.
_LINKED = """
import json, sys
import numpy as np
from fpcodec.bitstream import cache_loading
from numba.core import codegen
cache_loading.install()
import own
first = own.inner(np.arange(4.0))
library = own.inner.overloads[own.inner.signatures[0]].library
light = type(library).__name__ == "_LightLibrary" and library._shared_module is None
total = own.outer(np.arange(4.0)) if sys.argv[1] == "both" else None
print(json.dumps({"inner": first, "outer": total, "light": light,
                  "inner_compiled": own.inner.stats.cache_misses != {}}))
"""


def test_a_library_loaded_light_is_linked_into_a_new_compile(tmp_path):
    (tmp_path / "own.py").write_text(
        "import numba\n\n\n@numba.njit(cache=True)\ndef inner(a):\n    return a.sum() * 2.0\n\n\n"
        "@numba.njit(cache=True)\ndef outer(a):\n    return inner(a) + 1.0\n"
    )

    def run(which: str) -> dict:
        return _run_script(_LINKED, which, path=tmp_path)

    assert run("inner") == {"inner": 12.0, "outer": None, "light": False, "inner_compiled": True}
    # inner from the cache, light; outer compiled against it (its bitcode parsed then)
    assert run("both") == {"inner": 12.0, "outer": 13.0, "light": True, "inner_compiled": False}
    assert run("both") == {"inner": 12.0, "outer": 13.0, "light": True, "inner_compiled": False}


def test_defined_names_are_the_symbols_other_code_can_look_up():
    """An object file's global symbols are the names the library's bitcode defines, less its
    private constants: the entry points numba looks up are among them."""
    import numba
    from llvmlite import binding

    @numba.njit
    def twice(x):
        return 2 * x

    twice(3)
    library = twice.overloads[twice.signatures[0]].library
    _, kind, (obj, bitcode) = library.serialize_using_object_code()
    assert kind == "object"
    names = cache_loading.defined_names(obj)
    module = binding.parse_bitcode(bitcode)
    defined = {
        g.name: g.linkage
        for group in (module.functions, module.global_variables)
        for g in group
        if not g.is_declaration
    }
    private = {
        n for n, linkage in defined.items() if linkage in (binding.Linkage.private, binding.Linkage.internal)
    }
    assert private and names == set(defined) - private
    fndesc = twice.overloads[twice.signatures[0]].fndesc
    assert {fndesc.llvm_func_name, fndesc.llvm_cpython_wrapper_name} <= names


def test_defined_names_of_what_is_not_a_64_bit_elf_object_is_none():
    assert cache_loading.defined_names(b"MZ\x90\x00" + bytes(60)) is None  # a COFF/PE file
    assert cache_loading.defined_names(b"\xcf\xfa\xed\xfe" + bytes(60)) is None  # Mach-O
    assert cache_loading.defined_names(b"\x7fELF\x01\x01" + bytes(60)) is None  # 32-bit ELF
    truncated = b"\x7fELF\x02\x01" + bytes(0x22) + (10_000).to_bytes(8, "little") + bytes(0x10)
    assert cache_loading.defined_names(truncated) is None  # its section headers past the end


def test_defined_names_of_a_damaged_object_is_none():
    """Where an object file's headers point past it or its names have no end, the names are
    None (numba's own loader then runs), not an exception."""
    import numba

    @numba.njit
    def thrice(x):
        return 3 * x

    thrice(2)
    _, _, (obj, _) = thrice.overloads[thrice.signatures[0]].library.serialize_using_object_code()
    assert cache_loading.defined_names(obj)
    shoff = int.from_bytes(obj[0x28:0x30], "little")
    for cut in (len(obj) // 2, shoff + 10):  # headers or tables cut off
        assert cache_loading.defined_names(obj[:cut]) is None
    sections = np.frombuffer(obj, cache_loading._SECTION, offset=shoff)
    table = sections[np.flatnonzero(sections["type"] == cache_loading._SYMTAB)[0]]
    strings = sections[table["link"]]
    damaged = bytearray(obj)  # every byte of the names' table not 0: no name ends
    start, size = int(strings["offset"]), int(strings["size"])
    damaged[start : start + size] = b"a" * size
    assert cache_loading.defined_names(bytes(damaged)) is None
    header = shoff + int(np.flatnonzero(sections["type"] == cache_loading._SYMTAB)[0]) * 64
    moved = bytearray(obj)  # the symbol table's offset past the end
    moved[header + 24 : header + 32] = (len(obj) + 1).to_bytes(8, "little")
    assert cache_loading.defined_names(bytes(moved)) is None


def test_the_light_library_loader_replaces_only_the_checked_one(monkeypatch):
    from numba.core import codegen

    def other(cls, codegen_, state):  # a numba whose loader does something else
        return cls.something_else(codegen_, state)

    monkeypatch.setattr(codegen.JITCodeLibrary, "_unserialize", classmethod(other))
    assert not cache_loading._install_light_libraries()
    assert codegen.JITCodeLibrary.__dict__["_unserialize"].__func__ is other
