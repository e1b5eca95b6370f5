"""The served-list log: one row per list, written in batches by a background thread.

Serving a list only appends it to a bounded buffer (microseconds); a thread writes the
buffer to the store every ``flush_s`` seconds in transactions of up to ``batch`` rows. A
list is durable within ``flush_s`` of being served (a crash loses at most that much, and
:meth:`ListLog.close` writes the rest). Past ``max_buffer`` waiting lists (a store that
cannot keep up or is down) new lists are counted in ``dropped`` instead of queued; they
are still attributed in this process.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import deque

from pulserec.online.base import OnlineStore, ServedList

log = logging.getLogger("pulserec.online")

WRITE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
"""Upper bounds (s) of the write-duration histogram (``pulserec_online_list_write_seconds``)."""


class ListLog:
    """Buffers served lists and writes them to ``store`` in batches."""

    def __init__(
        self, store: OnlineStore, *, flush_s: float = 0.5, batch: int = 500,
        max_buffer: int = 50_000,
    ) -> None:  # fmt: skip
        self.store = store
        self.flush_s = flush_s
        self.batch = batch
        self.max_buffer = max_buffer
        self.dropped = 0
        self.written = 0
        self.write_counts = [0] * (len(WRITE_BUCKETS) + 1)
        """Writes of a batch to the store by duration (:data:`WRITE_BUCKETS`, then more)."""
        self.write_seconds = 0.0
        self.write_max_s = 0.0
        self._buffer: deque[ServedList] = deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, served: ServedList) -> bool:
        """Queue a list for writing; False when the buffer is full (counted as dropped)."""
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                return False
            self._buffer.append(served)
        return True

    def pending(self) -> int:
        """Lists waiting for their write."""
        return len(self._buffer)

    def flush(self) -> int:
        """Write every waiting list now; returns how many were written."""
        n = 0
        with self._write_lock:
            while True:
                with self._lock:
                    chunk = [self._buffer.popleft()
                             for _ in range(min(self.batch, len(self._buffer)))]  # fmt: skip
                if not chunk:
                    return n
                t0 = time.perf_counter()
                try:
                    self.store.append_lists(chunk)
                except Exception:
                    with self._lock:  # keep them for the next try, oldest first
                        self._buffer.extendleft(reversed(chunk))
                    raise
                took = time.perf_counter() - t0
                self.write_counts[bisect.bisect_left(WRITE_BUCKETS, took)] += 1
                self.write_seconds += took
                self.write_max_s = max(self.write_max_s, took)
                n += len(chunk)
                self.written += len(chunk)

    def start(self) -> ListLog:
        """Start the writing thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pulserec-list-log",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception as exc:  # the store is down: retry at the next tick
                log.warning("served lists not written yet (%d waiting): %s", self.pending(), exc)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
