"""What the atheris harnesses share: the corpus folder, per-input time and memory bounds, the run."""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path
from typing import Callable


class InputTimeout(BaseException):
    """One input ran past the per-input time bound (a hang, for the harness). A BaseException, so
    that the decoder's ``except Exception`` around constriction cannot turn it into a FormatError."""


def _on_alarm(signum, frame) -> None:
    raise InputTimeout("input took longer than the per-input CPU-time bound")


def bounded(target: str, seconds: float) -> Callable[[bytes], None]:
    """``targets.replay`` of ``target`` for atheris, with a bound of ``seconds`` of CPU time per input
    (SIGPROF; libFuzzer's own ``-timeout=``, wall clock on SIGALRM, catches hangs in native code)."""
    from . import targets

    signal.signal(signal.SIGPROF, _on_alarm)

    def test_one_input(data: bytes) -> None:
        signal.setitimer(signal.ITIMER_PROF, seconds)
        try:
            targets.replay(target, data)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)

    return test_one_input


def cap_address_space(extra_mb: int) -> None:
    """RLIMIT_AS at what the process maps now plus ``extra_mb``: an input that makes the parser
    allocate more fails with MemoryError, which the harness reports as a finding."""
    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    cap = mapped + (extra_mb << 20)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def seed_dir(target: str, corpus: Path | None = None) -> Path:
    """The target's corpus folder (default ``$FPCODEC_FUZZ_DIR/<target>``, ``.fuzz/<target>``
    without the variable), filled with the seeds when it is missing or empty."""
    from . import targets

    if corpus is None:
        corpus = Path(os.environ.get("FPCODEC_FUZZ_DIR", ".fuzz")) / target
    if not corpus.is_dir() or not any(corpus.iterdir()):
        corpus.mkdir(parents=True, exist_ok=True)
        targets.TARGETS[target][2](corpus)
    return corpus


def run(target: str, seconds: float = 20, memory_mb: int = 2048) -> None:
    """Parse the libFuzzer arguments, add the seed corpus when none is given, warm up on the seeds
    (imports, compiled kernels, model weights) before the address-space cap, then fuzz."""
    import atheris

    from . import targets

    argv = list(sys.argv)
    corpora = [a for a in argv[1:] if not a.startswith("-")]
    if not corpora:
        corpora = [str(seed_dir(target))]
        argv.append(corpora[0])
    corpus = seed_dir(target, Path(corpora[0]))  # libFuzzer adds what it finds to the first one
    for path in sorted(corpus.iterdir()):
        try:
            targets.replay(target, path.read_bytes())
        except Exception:  # a seed that is already a finding shows up again in the run itself
            pass
    cap_address_space(memory_mb)
    atheris.Setup(argv, bounded(target, seconds))
    atheris.Fuzz()
