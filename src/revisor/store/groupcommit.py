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
        self._queue: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name or "group-commit", daemon=True)
        self._thread.start()

    def submit(self, item: T, timeout: float = 30.0) -> R:
        return self.submit_nowait(item).result(timeout=timeout)

    def submit_nowait(self, item: T) -> Future[R]:
        """For async callers: `await asyncio.wrap_future(committer.submit_nowait(item))`."""
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
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
