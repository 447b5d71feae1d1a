"""The outbox worker: claims due messages in batches, sends them in a few threads, records.

It knows no channel: each batch is one channel's messages to one target, sent in order by
that channel's sender on one delivery thread. The same class runs inside the server (a
background thread, `LEADAPP_WEBHOOK_WORKER=on`) and in `flask webhooks worker`. It also
runs the app's periodic jobs, which the factory registers with `register_periodic`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from leadapp.models.outbox import FAILED
from leadapp.outbox import claims
from leadapp.outbox.backoff import backoff_seconds
from leadapp.outbox.channel import Channel, Message, Outcome, Sender, Transport, app_channels
from leadapp.outbox.claims import BatchKey, batch_key

log = logging.getLogger(__name__)

# Jobs `f(app)` the factory registers here, each with its period; every worker calls each at
# start and then once a period (retention and the idempotency sweep hourly, the digest of
# held notifications every minute).
PERIODIC_EXTENSION = "leadapp.periodic"
PERIODIC_SECONDS = 3600.0
# An idle worker looks for due messages this often: a first attempt starts well within
# the contract's 5 seconds of the commit, and a retry within this of its due time.
POLL_SECONDS = 0.25
DEFAULT_CONCURRENCY = 4
# At most this share of a worker's threads send to one target at a time: a receiver that
# hangs holds them until the timeout, and the others must still get theirs.
PER_TARGET_SHARE = 0.5
# One claim takes up to this many due messages of one target, which one thread sends in
# order on one kept-alive connection: one claim and one success transaction per batch.
BATCH_SIZE = 32
# A batch starts attempts for at most this long after its claim; the lease covers it on top
# of the last attempt, and what is left is given back (due again at once).
BATCH_SECONDS = 10.0
# A batch records its successes (and checks that its rows are still its own: an erasure
# meanwhile drops a row) at least this often, so a slow receiver's successes show soon.
BATCH_FLUSH_SECONDS = 1.0
# A claim outlives the longest attempt by this margin; a dead worker's claims come back
# when it runs out (the contract: within 60 seconds with the default 10-second timeout).
LEASE_MARGIN_SECONDS = 20.0
CONTRACT_REDELIVERY_SECONDS = 60.0
# An attempt that failed without an answer after this long (a timeout, a receiver that
# hangs) ends its batch; a quicker one (refused) does not.
SLOW_FAILURE_SECONDS = 1.0
ERROR_LOG_SECONDS = 60.0
DATABASE_ERROR_PAUSE = 2.0
# Supervision: a thread that dies on an unexpected exception is started again after the
# n-th of these delays in a row (all within the contract's 10 s), and counts as running
# again once it has lived STABLE_SECONDS; GIVE_UP_DEATHS deaths in a row mean the worker
# cannot run (`flask webhooks worker` then exits; the server keeps trying, /readyz says so).
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0)
STABLE_SECONDS = 5.0
GIVE_UP_DEATHS = 4
SUPERVISE_SECONDS = 0.25
# This process's own worker (the server's thread), for /readyz; None when it has none.
OWN_WORKER_EXTENSION = "leadapp.outbox.own_worker"


class Stoppable(Protocol):
    """A piece of background work the server runs beside the requests, stopped as it drains."""

    def stop(self, timeout: float) -> bool:
        """Finish the work under way (waiting at most `timeout` s); True when it did."""
        ...


def init_own_worker(app: Flask) -> None:
    """Create the slot of this process's own worker (filled by start_background_worker)."""
    app.extensions[OWN_WORKER_EXTENSION] = None


def own_worker_problem(app: Flask) -> str | None:
    """Why this process's own worker is not running, or None (also when it has none)."""
    worker: Worker | None = app.extensions.get(OWN_WORKER_EXTENSION)
    return None if worker is None else worker.problem()


class _Supervised:
    """One supervised thread: what it runs, its current thread, and how it last died."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.thread: threading.Thread | None = None
        self.started_at = 0.0
        self.died_at: float | None = None
        self.deaths = 0  # in a row: reset by a life of STABLE_SECONDS
        self.reason = ""


def register_periodic(
    app: Flask, job: Callable[[Flask], None], every: float = PERIODIC_SECONDS
) -> None:
    """Have every worker of this app call `job(app)` at start and then every `every` seconds."""
    app.extensions.setdefault(PERIODIC_EXTENSION, {})[job] = every


class Worker:
    """Sends the outbox's messages on the app's channels until stopped."""

    def __init__(self, app: Flask, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.app = app
        self.concurrency = concurrency
        self.channels: dict[str, Channel] = dict(app_channels(app))
        self.timeout = max((c.policy.timeout for c in self.channels.values()), default=0.0)
        # The batch window shrinks for long timeouts, so that the lease stays within the
        # contract's 60 s wherever the timeout allows it.
        self.batch_seconds = max(
            0.0,
            min(BATCH_SECONDS, CONTRACT_REDELIVERY_SECONDS - LEASE_MARGIN_SECONDS - self.timeout),
        )
        self.batch_size = BATCH_SIZE
        self.lease_seconds = self.timeout + LEASE_MARGIN_SECONDS + self.batch_seconds
        if self.lease_seconds > 60:
            log.warning(
                "LEADAPP_WEBHOOK_TIMEOUT=%g: an attempt cut short by a crash is retried only "
                "after %g s, past the 60 s the contract promises (keep the timeout at most 40)",
                self.timeout,
                self.lease_seconds,
            )
        self.id = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._queue: queue.Queue[_Batch | None] = queue.Queue()
        self._transports: dict[str, Transport] = {
            name: channel.transport() for name, channel in self.channels.items()
        }
        self._busy = 0
        self._per_target: Counter[BatchKey] = Counter()
        self.per_target_limit = max(1, int(concurrency * PER_TARGET_SHARE))
        self._idle = threading.Condition()
        self._supervised: list[_Supervised] = []
        self._supervisor: threading.Thread | None = None
        self._periodic_last: dict[int, float] = {}
        self._last_error_log = 0.0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Worker:
        """Start the poller, the delivery threads and their supervisor (daemons all)."""
        self._supervised = [
            _Supervised(f"outbox-delivery-{n}", self._deliver_loop) for n in range(self.concurrency)
        ]
        self._supervised.append(_Supervised("outbox-poller", self._poll_loop))
        for slot in self._supervised:
            self._launch(slot)
        self._supervisor = threading.Thread(
            target=self._supervise, name="outbox-supervisor", daemon=True
        )
        self._supervisor.start()
        log.info("outbox worker %s started (%s)", self.id, ", ".join(self.channels) or "no channel")
        return self

    def _launch(self, slot: _Supervised) -> None:
        """Start (or start again) one supervised thread."""
        slot.started_at = time.monotonic()
        slot.died_at = None
        slot.thread = threading.Thread(
            target=self._run_supervised, args=(slot,), name=slot.name, daemon=True
        )
        slot.thread.start()

    def _run_supervised(self, slot: _Supervised) -> None:
        """Run a thread's loop; an exception that ends it is recorded for the supervisor."""
        try:
            slot.target()
        except Exception as error:
            now = time.monotonic()
            if now - slot.started_at >= STABLE_SECONDS:
                slot.deaths = 0
            slot.deaths += 1
            slot.reason = f"{type(error).__name__}: {error}".strip().rstrip(":")
            delay = RESTART_DELAYS[min(slot.deaths, len(RESTART_DELAYS)) - 1]
            log.exception(
                "outbox worker %s: thread %s died (%s); restarting it in %g s",
                self.id,
                slot.name,
                slot.reason,
                delay,
            )
            slot.died_at = now

    def _supervise(self) -> None:
        """Start each thread that died again after its delay, until the worker stops."""
        while not self._stopping.wait(SUPERVISE_SECONDS):
            for slot in self._supervised:
                died_at = slot.died_at
                if died_at is None or (slot.thread is not None and slot.thread.is_alive()):
                    continue
                delay = RESTART_DELAYS[min(slot.deaths, len(RESTART_DELAYS)) - 1]
                if time.monotonic() - died_at >= delay and not self._stopping.is_set():
                    log.warning(
                        "outbox worker %s: restarting thread %s (it died: %s)",
                        self.id,
                        slot.name,
                        slot.reason,
                    )
                    self._launch(slot)

    def problem(self) -> str | None:
        """Why the worker is not running (a thread dead or just restarted), or None."""
        if self._stopping.is_set():
            return "stopped"
        now = time.monotonic()
        for slot in self._supervised:
            if slot.thread is None or not slot.thread.is_alive():
                return f"thread {slot.name} is not running ({slot.reason or 'not started'})"
            if slot.deaths and now - slot.started_at < STABLE_SECONDS:
                return f"thread {slot.name} restarted after it died ({slot.reason})"
        return None

    def gave_up(self) -> str | None:
        """Why the worker cannot run (a thread died GIVE_UP_DEATHS times in a row), or None."""
        for slot in self._supervised:
            if slot.deaths >= GIVE_UP_DEATHS:
                return f"thread {slot.name} died {slot.deaths} times in a row ({slot.reason})"
        return None

    def stop(self, timeout: float) -> bool:
        """Claim nothing more, let the attempts under way finish (at most `timeout` s).

        Returns whether they all finished; one that did not is retried by any worker
        once its claim runs out.
        """
        with self._idle:
            self._stopping.set()
            self._idle.notify_all()
        deadline = time.monotonic() + timeout
        with self._idle:
            finished = self._idle.wait_for(
                lambda: self._busy == 0, timeout=max(0.0, deadline - time.monotonic())
            )
        for _ in range(self.concurrency):
            self._queue.put(None)
        if finished:
            for transport in self._transports.values():
                transport.stop()
        log.info("outbox worker %s stopped", self.id)
        return finished

    @property
    def stopping(self) -> bool:
        """Whether stop() was called."""
        return self._stopping.is_set()

    # --- the poller ----------------------------------------------------------------------

    def _poll_loop(self) -> None:
        """Claim a batch per idle delivery thread (one target each), until stopped."""
        with self.app.app_context():
            while not self._stopping.is_set():
                self._run_periodic()
                with self._idle:
                    # Every thread busy: wait for one to finish, not for the next poll.
                    self._idle.wait_for(lambda: self._busy < self.concurrency, timeout=POLL_SECONDS)
                    free = self.concurrency - self._busy
                    saturated = [
                        key
                        for key, count in self._per_target.items()
                        if count >= self.per_target_limit
                    ]
                if free == 0 or self._stopping.is_set():
                    continue
                claimed_at = time.monotonic()
                try:
                    # One batch per target per claim: the next claim then knows which
                    # targets are saturated.
                    batches = claims.claim_batches(
                        self.id, free, self.batch_size, self.lease_seconds, saturated
                    )
                except SQLAlchemyError as error:
                    self._log_database_error(error)
                    self._stopping.wait(DATABASE_ERROR_PAUSE)
                    continue
                if batches:
                    with self._idle:
                        # Under the lock stop() waits on: either it waits for these batches,
                        # or they are given back here, never left under a lease.
                        stopped = self._stopping.is_set()
                        if not stopped:
                            self._busy += len(batches)
                            self._per_target.update(batch_key(batch[0]) for batch in batches)
                            for batch in batches:
                                self._queue.put(_Batch(batch, claimed_at))
                    if stopped:
                        with contextlib.suppress(SQLAlchemyError):
                            claims.release(
                                [m.entry.id for batch in batches for m in batch], self.id
                            )
                        break
                if not any(len(batch) == self.batch_size for batch in batches):
                    # Nothing more is due now (wait for the next poll: under load a claim then
                    # takes a poll's worth of rows, not the few of the last milliseconds), or
                    # only for saturated targets (wait for a batch to finish, too).
                    with self._idle:
                        busy = self._busy
                        self._idle.wait_for(
                            lambda busy=busy, waiting=bool(saturated): (
                                (waiting and self._busy < busy) or self._stopping.is_set()
                            ),
                            timeout=POLL_SECONDS,
                        )

    def _run_periodic(self) -> None:
        """Call each registered periodic job that has not run within its period."""
        now = time.monotonic()
        for job, every in list(self.app.extensions.get(PERIODIC_EXTENSION, {}).items()):
            last = self._periodic_last.get(id(job))
            if last is not None and now - last < every:
                continue
            self._periodic_last[id(job)] = now
            try:
                job(self.app)
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    def _log_database_error(self, error: SQLAlchemyError) -> None:
        """Say the database is unreachable, at most once a minute (not once a poll)."""
        now = time.monotonic()
        if now - self._last_error_log >= ERROR_LOG_SECONDS:
            self._last_error_log = now
            log.warning("outbox worker: database unavailable (%s)", type(error).__name__)

    # --- the delivery threads --------------------------------------------------------------

    def _deliver_loop(self) -> None:
        """Send each batch handed over by the poller with this thread's senders."""
        senders: dict[str, Sender] = {}
        try:
            with self.app.app_context():
                while True:
                    batch = self._queue.get()
                    if batch is None:
                        return
                    channel = batch.key[0]
                    try:
                        if channel not in senders:
                            senders[channel] = self._transports[channel].sender()
                        self.deliver(batch.items, senders[channel], batch.claimed_at)
                    except Exception:
                        # The claims run out and the messages are tried again.
                        log.exception(
                            "%s messages to %s: could not record the attempts", *batch.key
                        )
                        if channel in senders:
                            senders.pop(channel).close()
                    finally:
                        with self._idle:
                            self._busy -= 1
                            self._per_target[batch.key] -= 1
                            if self._per_target[batch.key] <= 0:
                                del self._per_target[batch.key]
                            self._idle.notify_all()
        finally:
            for sender in senders.values():
                sender.close()

    def deliver(
        self,
        batch: list[Message],
        sender: Sender | None = None,
        claimed_at: float | None = None,
    ) -> list[Outcome]:
        """Attempt one target's claimed messages in order; record them; the outcomes.

        Successes are recorded together (at the end, or every BATCH_FLUSH_SECONDS); a failure
        at once. The batch stops early, giving back the rest, when the worker stops, when its
        window (BATCH_SECONDS after the claim) is over, or after an attempt that got no answer
        and took a while (the receiver hangs: the rest would only wait behind it). A quick
        failure (refused) goes on: each of the rest fails as fast, one transaction each,
        instead of a claim, a failure and a give-back per row.
        """
        if not batch:
            return []
        channel = self.channels[batch[0].entry.channel]
        own = sender is None
        if sender is None:
            sender = self._transports[channel.name].sender()
        if claimed_at is None:
            claimed_at = time.monotonic()
        outcomes: list[Outcome] = []
        delivered: list[tuple[Message, int | None]] = []
        pending = list(batch)
        flushed_at = claimed_at
        try:
            while pending:
                now = time.monotonic()
                if self.stopping or (outcomes and now - claimed_at > self.batch_seconds):
                    break
                if now - flushed_at >= BATCH_FLUSH_SECONDS:
                    claims.record_delivered_batch(delivered)
                    delivered = []
                    held = claims.still_held([m.entry.id for m in pending], self.id)
                    pending = [m for m in pending if m.entry.id in held]
                    flushed_at = now
                    continue
                message = pending.pop(0)
                outcome = sender.send(message)
                outcomes.append(outcome)
                if outcome.delivered:
                    delivered.append((message, outcome.status))
                    continue
                self._record_failure(channel, message, outcome)
                if outcome.status is None and time.monotonic() - now >= SLOW_FAILURE_SECONDS:
                    break
        finally:
            if own:
                sender.close()
            claims.record_delivered_batch(delivered)
            claims.release([m.entry.id for m in pending], self.id)
        return outcomes

    def _record_failure(self, channel: Channel, message: Message, outcome: Outcome) -> None:
        """Schedule the next attempt after the backoff, or mark the message failed."""
        entry = message.entry
        wait = backoff_seconds(
            entry.attempts + 1, channel.policy.retry_seconds, outcome.retry_after
        )
        status = claims.record_failure(
            entry,
            self.id,
            status=outcome.status,
            error=outcome.error or "failed",
            delay=wait,
            # A permanent refusal is this attempt's last, whatever attempts are left.
            max_attempts=entry.attempts + 1 if outcome.permanent else channel.policy.max_attempts,
        )
        log.warning(
            "%s delivery %s to %s: attempt %d failed (%s); %s",
            entry.channel,
            entry.id,
            entry.target_id,
            entry.attempts + 1,
            outcome.error,
            "giving up: failed" if status == FAILED else f"next in {wait:.1f} s",
        )


@dataclass(frozen=True)
class _Batch:
    """One target's claimed messages and when the claim was made (monotonic, before it)."""

    items: list[Message]
    claimed_at: float

    @property
    def key(self) -> BatchKey:
        """The (channel, target) every item goes to."""
        return batch_key(self.items[0])


class _NoWorker:
    """Stands in when the server delivers nothing itself (LEADAPP_WEBHOOK_WORKER=off)."""

    def stop(self, timeout: float) -> bool:
        """Nothing to stop."""
        return True


def start_background_worker(app: Flask) -> Stoppable:
    """Start the in-process worker when LEADAPP_WEBHOOK_WORKER is on; return it for stop().

    It becomes the process's own worker, which /readyz judges (services/health.py).
    """
    if not app.config.get("LEADAPP_WEBHOOK_WORKER", True):
        return _NoWorker()
    worker = Worker(app).start()
    app.extensions[OWN_WORKER_EXTENSION] = worker
    return worker
