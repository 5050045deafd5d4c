"""Group commit: one writer thread turns many waiting writes into one transaction.

With `synchronous=FULL`, every SQLite commit waits for an fsync, and the disk does one at a time:
committing each webhook delivery on its own caps intake at a few hundred per second whatever the
number of threads. Here request threads hand their item to one writer thread and wait; the writer
takes everything that is waiting, commits it in one transaction, and only then wakes each waiter
with its own result. Every caller still returns only after its write is durable.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger("revisor.store.groupcommit")

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitter(Generic[T, R]):
    """`submit(item)` blocks until `commit(batch)` (run on the writer thread) has returned.

    `commit` gets the items in arrival order and returns one result per item; if it raises,
    every caller in that batch gets the exception. `after`, if given, runs on the writer thread
    once the callers have been answered: work that must follow the commit but that nobody
    needs to wait for.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Sequence[R]],
        *,
        after: Callable[[Sequence[R]], None] | None = None,
        max_batch: int = 256,
        name: str = "",
    ) -> None:
        self._commit = commit
        self._after = after
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name or "group-commit", daemon=True)
        self._thread.start()

    def submit(self, item: T, timeout: float = 30.0) -> R:
        return self.submit_nowait(item).result(timeout=timeout)

    def submit_nowait(self, item: T) -> Future[R]:
        """For async callers: `await asyncio.wrap_future(committer.submit_nowait(item))`."""
        if self._closed:
            raise RuntimeError("the group committer is closed")
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is waiting, then stop the writer thread (at shutdown; idempotent)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:  # close(): commit this batch, then stop
                    stopping = True
                    break
                batch.append(waiting)
            try:
                results = self._commit([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"commit returned {len(results)} results for {len(batch)}")
            except BaseException as exc:  # every waiter learns what happened to its write
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)
            if self._after is not None:
                try:
                    self._after(results)
                except Exception:  # the callers have their answers; say what went wrong
                    log.exception("group commit: the after-commit step failed")
