"""The Ray side of a batch: start or join a cluster, one actor per worker, bounded work in flight.

Each actor is a ``work.Worker`` in its own process: a learned model is loaded once per actor and
reused for every file it codes. The driver keeps at most ``in_flight`` files submitted at a time
(``ray.wait`` for one to finish before sending the next), so neither the driver's memory nor Ray's
object store grows with the size of the batch, and a kill loses at most those files. Files go to the
actor with the fewest in flight. An actor that dies (out of memory, a crash in native code) costs
the files it held, which are reported as errors; Ray restarts it and the batch goes on.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from ...bitstream.errors import FpcodecError
from .work import Options, Worker


def import_ray():
    """Ray, or a clear error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise FpcodecError("fpcodec batch needs Ray: pip install 'fpcodec[batch]'") from None
    return ray


@contextmanager
def cluster(address: str | None, num_cpus: int | None = None) -> Iterator[Any]:
    """Join the cluster at ``address``, or start a local one on this machine (stopped at the end).

    When this process is already connected (a test's fixture, a notebook) that connection is used
    and left open.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = dict(
        include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False, configure_logging=True
    )
    if address:
        kwargs["address"] = address
    else:
        # "local": a new cluster of our own, never one found through RAY_ADDRESS or an earlier
        # `ray start` on this machine (that is what --address is for).
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FpcodecError(
            f"cannot start or join the Ray cluster{' at ' + address if address else ''}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _failed(op: str, item: Any, exc: BaseException) -> dict[str, Any]:
    """The record of a file whose worker died under it."""
    if op == "verify":
        src, out = item["source"], item["output"]
    else:
        src, out = item[0].source, item[0].rel
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return {
        "op": op,
        "source": src,
        "output": out,
        "status": "error",
        "error": f"worker failed: {type(exc).__name__}: {first}"[:500],
        "seconds": {},
    }


def run(
    ray,
    op: str,
    items: Iterable[Any],
    options: Options,
    out_dir: str,
    *,
    workers: int,
    in_flight: int | None = None,
    gpus_per_worker: float = 0.0,
    on_result: Callable[[dict[str, Any]], None],
) -> None:
    """Run ``Worker.<op>`` on every item over ``workers`` actors, calling ``on_result`` per record.

    ``items``: ``(Job, expected_sha256 or None)`` pairs for encode/decode, manifest records for
    verify. It is consumed lazily, at most ``in_flight`` (default two per worker) ahead.
    """
    cap = max(1, in_flight or 2 * workers)
    # Actors that can never be placed would leave their files waiting for ever: refuse up front.
    have = ray.cluster_resources()
    if workers > have.get("CPU", 0):
        raise FpcodecError(f"{workers} workers need {workers} CPUs; the cluster has {have.get('CPU', 0):g}")
    if gpus_per_worker and workers * gpus_per_worker > have.get("GPU", 0):
        raise FpcodecError(
            f"{workers} workers with {gpus_per_worker:g} GPU each need "
            f"{workers * gpus_per_worker:g} GPUs; the cluster has {have.get('GPU', 0):g}"
        )
    remote = ray.remote(Worker).options(
        num_cpus=1, num_gpus=gpus_per_worker, max_restarts=-1, max_task_retries=0
    )
    actors = [remote.remote(options) for _ in range(workers)]
    load = [0] * workers
    pending: dict[Any, tuple[int, Any]] = {}
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < cap:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                idx = min(range(workers), key=load.__getitem__)
                actor = actors[idx]
                if op == "verify":
                    ref = actor.verify.remote(item, out_dir)
                else:
                    ref = getattr(actor, op).remote(item[0], out_dir, item[1])
                pending[ref] = (idx, item)
                load[idx] += 1
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                idx, item = pending.pop(ref)
                load[idx] -= 1
                try:
                    record = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - RayActorError, WorkerCrashedError, ...
                    record = _failed(op, item, exc)
                on_result(record)
    finally:
        for actor in actors:
            ray.kill(actor)
