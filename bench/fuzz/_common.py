"""What the atheris harnesses share: seed corpora, per-input time and memory bounds, the run itself."""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path
from typing import Callable

#: The repository's test data (seeds come from here, never from /work/shared).
TEST_DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
#: Largest frame a fuzzed input may declare: the limit (max_pixels) is the protection against huge
#: frames, so the harness sets it low and keeps every execution small.
FUZZ_MAX_PIXELS = 1 << 16


class InputTimeout(BaseException):
    """One input ran past the per-input time bound (a hang, for the harness). A BaseException, so
    that the decoder's ``except Exception`` around constriction cannot turn it into a FormatError."""


#: Exceptions that are bugs in Python code even when a catch-all turned them into an allowed error
#: (frame_coding.decode_frame wraps whatever constriction raises, AssertionError and ValueError
#: included, in a FormatError ``from`` it): an explicit cause of one of these types is a finding.
MASKED_BUGS = (
    MemoryError,
    RecursionError,
    IndexError,
    KeyError,
    AttributeError,
    TypeError,
    NameError,
    ZeroDivisionError,
    OverflowError,
)


def _masked_bug(exc: BaseException) -> BaseException | None:
    seen = set()
    cause = exc.__cause__
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, MASKED_BUGS):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__
    return None


def _on_alarm(signum, frame) -> None:
    raise InputTimeout("input took longer than the per-input CPU-time bound")


def bounded(check: Callable[[bytes], None], allowed: tuple[type[BaseException], ...], seconds: float):
    """``check`` wrapped for atheris: allowed exceptions are swallowed, a Python-level hang past
    ``seconds`` of CPU time raises InputTimeout (SIGPROF: libFuzzer's own ``-timeout=``, wall
    clock on SIGALRM, catches hangs in native code)."""
    signal.signal(signal.SIGPROF, _on_alarm)

    def test_one_input(data: bytes) -> None:
        signal.setitimer(signal.ITIMER_PROF, seconds)
        try:
            check(data)
        except allowed as exc:
            bug = _masked_bug(exc)
            if bug is not None:
                raise bug from exc  # the traceback shows where it happened
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


def seed_dir(target: str, write_seeds: Callable[[Path], None], corpus: Path | None = None) -> Path:
    """The target's corpus folder (default ``$FPCODEC_FUZZ_DIR/<target>``, ``.fuzz/<target>``
    without the variable), filled with the seeds when it is missing or empty."""
    if corpus is None:
        corpus = Path(os.environ.get("FPCODEC_FUZZ_DIR", ".fuzz")) / target
    if not corpus.is_dir() or not any(corpus.iterdir()):
        corpus.mkdir(parents=True, exist_ok=True)
        write_seeds(corpus)
    return corpus


def run(
    target: str,
    test_one_input: Callable[[bytes], None],
    write_seeds: Callable[[Path], None],
    warm_up: Callable[[], None],
    memory_mb: int = 1024,
) -> None:
    """Parse the libFuzzer arguments, add the seed corpus when none is given, warm up (imports,
    compiled kernels, model weights) before the address-space cap, then fuzz."""
    import atheris

    argv = list(sys.argv)
    corpora = [a for a in argv[1:] if not a.startswith("-")]
    if not corpora:
        argv.append(str(seed_dir(target, write_seeds)))
    for corpus in corpora[:1]:  # libFuzzer adds what it finds to the first one
        seed_dir(target, write_seeds, Path(corpus))
    warm_up()
    cap_address_space(memory_mb)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
