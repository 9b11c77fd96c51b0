"""codec.allocator: once a coder is made, a large array comes from glibc's heap, not a mapping of its own.

Checked in fresh interpreters (the suite's own process has long since freed large blocks, which
raises glibc's threshold by itself), through glibc's ``mallinfo2``: the bytes held in mappings
(``hblkhd``) grow by a 4 MB array's size before the threshold is raised, and not after.
"""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from fpcodec.codec import allocator

CHILD = """
import ctypes, sys
import numpy as np

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2

def mapped() -> int:
    return libc.mallinfo2().hblkhd

if sys.argv[1] == "coder":
    import io
    from fpcodec.codec import Encoder
    Encoder(io.BytesIO(), width=8, height=8, channels=3, model="last-frame")
before = mapped()
block = np.ones(4 << 20, np.uint8)
print(mapped() - before)
"""


def _mapped_growth(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def _glibc_with_mallinfo2() -> bool:
    libc, version = platform.libc_ver()
    return libc == "glibc" and tuple(int(v) for v in version.split(".")[:2]) >= (2, 33)


@pytest.mark.skipif(not _glibc_with_mallinfo2(), reason="glibc's malloc, mallinfo2 (2.33 and later)")
def test_a_coder_takes_large_arrays_from_the_heap() -> None:
    assert _mapped_growth("plain") >= 4 << 20  # a mapping of its own
    assert _mapped_growth("coder") == 0  # from the heap
    assert allocator.raise_mmap_threshold() is True
    assert allocator.raise_mmap_threshold() is True  # once: cached
