"""The server process's logging: one line per record, nothing computed that no line shows.

`python -m leadapp.server` configures logging here, once, before the app is built (the app
itself only logs; it never configures handlers, so it stays usable from any host).
"""

from __future__ import annotations

import logging
import threading
import time

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUEUE_LOGGER = "waitress.queue"
QUEUE_REPORT_SECONDS = 10.0


class QueueDepthSummary(logging.Filter):
    """Let waitress's "Task queue depth is N" through at most once per period.

    waitress logs it for every request that finds every thread busy: under a sustained
    burst, a line per request, which says nothing the first one did not. The line that
    passes carries the deepest queue seen since the last one.
    """

    def __init__(self, period: float = QUEUE_REPORT_SECONDS) -> None:
        super().__init__()
        self.period = period
        self._lock = threading.Lock()
        self._next = 0.0
        self._deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the record that reports this period's deepest queue."""
        depth = record.args[0] if isinstance(record.args, tuple) and record.args else 0
        now = time.monotonic()
        with self._lock:
            self._deepest = max(self._deepest, depth if isinstance(depth, int) else 0)
            if now < self._next:
                return False
            self._next = now + self.period
            record.msg = "Task queue depth is %d (deepest in the last %g s; every thread busy)"
            record.args = (self._deepest, self.period)
            self._deepest = 0
        return True


def configure_logging() -> None:
    """WARNING and up to stderr; LeadApp's own INFO (the access log) too."""
    # No line shows the caller's file, thread or process: don't make every record find them
    # (the logging HOWTO's "Optimization"; finding the caller walks the stack each time).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=logging.WARNING, format=LINE_FORMAT)
    logging.getLogger("leadapp").setLevel(logging.INFO)
    logging.getLogger(QUEUE_LOGGER).addFilter(QueueDepthSummary())
