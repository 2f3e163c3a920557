"""Executors: where the per-scene unit of work runs.

The unit of work is one scene (read, detect, write its results in one transaction), so a task
can run anywhere and be retried anywhere. `LocalExecutor` runs tasks in this process;
`DaskExecutor` runs them on a `distributed` cluster: a `LocalCluster` by default, or a user's
scheduler at ``tcp://HOST:PORT``. Both yield ``(item, result, error)`` as tasks finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)

Outcome = tuple[Any, Any, BaseException | None]


class LocalExecutor:
    name = "local"

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        for item in items:
            try:
                yield item, fn(item), None
            except Exception as exc:  # one bad scene among many: report, go on (as on Dask)
                log.debug("task %r failed", item, exc_info=True)
                yield item, None, exc

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Failed:
    """A task's exception, returned rather than raised by :class:`_Catching`."""

    def __init__(self, error: BaseException, traceback_text: str):
        self.error = error
        self.traceback_text = traceback_text


def _portable(exc: BaseException) -> BaseException:
    """``exc`` without its chained exceptions and traceback (a library's exception in its
    context, such as rasterio's, may not unpickle: Dask would then send a bare Exception)."""
    import pickle

    exc.__context__ = exc.__cause__ = None
    exc = exc.with_traceback(None)
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return Exception(f"{type(exc).__name__}: {exc}")


class _Catching:
    """Run the task; return its exception instead of raising it. A raised exception makes the
    worker log a "Compute Failed" block (key, task, traceback) on its own stderr; the failure
    is reported once instead, by the client, as one line (the traceback at debug level).
    Worker deaths are not exceptions of the task: Dask still reschedules those."""

    def __init__(self, fn: Callable[[Any], Any]):
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        import traceback

        try:
            return self.fn(item)
        except Exception as exc:
            text = traceback.format_exc()  # before _portable drops the traceback
            return _Failed(_portable(exc), text)


class DaskExecutor:
    """Run tasks on Dask. A worker that dies mid-task has its task rescheduled on another
    worker (up to ``allowed_failures`` times), which is safe because each task writes its results
    in a single transaction."""

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        connect_timeout_s: float = 10.0,
        allowed_failures: int = 2,
    ) -> None:
        import dask
        from distributed import Client, LocalCluster

        dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures})
        if not logging.getLogger().isEnabledFor(logging.INFO):
            # the cluster's start and stop chatter (distributed logs at INFO by default) only
            # with --verbose / --debug; its warnings and errors still show
            logging.getLogger("distributed").setLevel(logging.WARNING)
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=f"{connect_timeout_s}s")
            except (OSError, TimeoutError) as exc:
                raise TankerWatchError(
                    f"Dask scheduler {scheduler} does not answer ({type(exc).__name__})"
                ) from None
        else:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            self.client = Client(self._cluster)
        log.info("dask executor: %s", self.client)

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        import uuid

        from distributed import as_completed

        items = list(items)
        batch = uuid.uuid4().hex  # unique on a shared scheduler, across processes and runs
        futures = {}
        task = _Catching(fn)
        for i, item in enumerate(items):
            fut = self.client.submit(task, item, key=f"tankerwatch-{batch}-{i}", pure=False)
            futures[fut] = item
        for fut in as_completed(list(futures)):
            item = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # KilledWorker after worker deaths, a lost scheduler
                log.debug("task %r failed", item, exc_info=True)
                yield item, None, exc
                continue
            finally:
                fut.release()
            if isinstance(result, _Failed):  # a user error or a bug, raised in the task
                log.debug("task %r failed on a worker:\n%s", item, result.traceback_text)
                yield item, None, result.error
            else:
                yield item, result, None

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            # our own workers, stopped by us: "still alive after 4.0 seconds, killing" is no news
            nanny = logging.getLogger("distributed.nanny")
            level = nanny.level
            nanny.setLevel(max(level, logging.ERROR))
            try:
                self._cluster.close()
            finally:
                nanny.setLevel(level)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(kind: str = "local", scheduler: str | None = None, workers: int = 2):
    if kind == "local" and not scheduler:
        return LocalExecutor()
    if kind == "dask" or scheduler:
        return DaskExecutor(scheduler=scheduler, n_workers=workers)
    raise TankerWatchError(f"unknown executor '{kind}' (expected local or dask)")
