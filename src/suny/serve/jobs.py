"""Jobs: one worker thread runs them one at a time, in the order they were asked for, and each job
keeps its events for the page's event stream: ``progress`` ({done, total}) while it runs, then
exactly one end, ``result`` ({result_id}), ``error`` ({detail}) or ``cancelled`` ({}).

Cancelling is cooperative: once a job is cancelled, its progress callback (which SUNY calls at
every forward pass) and its check (which the explainer's model calls after every layer,
:func:`~suny.serve.compute.stop_points`) raise :class:`~suny.errors.Cancelled`, so a running job
stops within one layer's computation, SUNY or baseline. A job that has not started yet is cancelled
at once. Whatever a job raises ends that job, never the worker.
"""

from __future__ import annotations

import logging
import queue
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

from suny.errors import Cancelled, SunyError
from suny.serve.compute import JobRequest, Progress
from suny.serve.errors import ServeError

logger = logging.getLogger(__name__)

EventName = Literal["progress", "result", "error", "cancelled"]
#: What a job id looks like.
JOB_ID = re.compile(r"[0-9a-f]{32}")
#: Finished jobs kept (their events can be read again), the oldest dropped first.
FINISHED_KEPT = 256
#: Jobs waiting at most; more are refused.
MAX_WAITING = 64
#: Seconds at least between two progress events of a job.
PROGRESS_INTERVAL = 0.1
#: Runs a request on a picture, reporting progress; returns the result's id.
Runner = Callable[[JobRequest, Image.Image, Progress], str]


@dataclass(frozen=True)
class Event:
    """One server-sent event of a job."""

    name: EventName
    data: dict[str, Any]


class Job:
    """One request of one session, and what happened to it so far."""

    def __init__(self, session: str, request: JobRequest, picture: Image.Image | None) -> None:
        self.job_id = secrets.token_hex(16)
        self.session = session
        self.request = request
        self.picture = picture
        self.cancelled = threading.Event()
        self.started = False
        self._events: list[Event] = []
        self._finished = False
        self._lock = threading.Lock()
        self._last_progress = -PROGRESS_INTERVAL

    @property
    def finished(self) -> bool:
        return self._finished

    def events(self, start: int) -> tuple[list[Event], bool]:
        """The events from number ``start`` on, and whether they include the job's end."""
        with self._lock:
            return self._events[start:], self._finished

    def check(self) -> None:
        """Raise :class:`~suny.errors.Cancelled` once the job is cancelled."""
        if self.cancelled.is_set():
            raise Cancelled("cancelled")

    def report(self, done: int, total: int | None) -> None:
        """SUNY's progress: an event (at most one per :data:`PROGRESS_INTERVAL`), or the stop."""
        self.check()
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._emit(Event("progress", {"done": done, "total": total}))

    def finish(self, name: EventName, data: dict[str, Any]) -> None:
        """End the job with ``name`` (once: later ends are ignored)."""
        with self._lock:
            if self._finished:
                return
            self._events.append(Event(name, data))
            self._finished = True
            self.picture = None

    def _emit(self, event: Event) -> None:
        with self._lock:
            if not self._finished:
                self._events.append(event)


class JobManager:
    """The jobs of every session and the worker thread that runs them with ``run``."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="suny-serve-jobs", daemon=True)
        self._worker.start()

    def submit(self, session: str, request: JobRequest, picture: Image.Image | None) -> Job:
        """A new job of ``session`` on ``picture``; without one, the store has the job's result and
        the job is finished at once."""
        job = Job(session, request, picture)
        cached = picture is None
        if cached:
            job.finish("result", {"result_id": request.result_id})
        elif self._queue.qsize() >= MAX_WAITING:
            raise ServeError(429, f"{MAX_WAITING} jobs are waiting already: cancel some or try again later")
        with self._lock:
            self._jobs[job.job_id] = job
            finished = [key for key, kept in self._jobs.items() if kept.finished]
            for key in finished[: max(0, len(finished) - FINISHED_KEPT)]:
                del self._jobs[key]
        if not cached:
            self._queue.put(job)
        return job

    def find(self, job_id: str, session: str) -> Job | None:
        """The job ``job_id`` if ``session`` started it."""
        if not JOB_ID.fullmatch(job_id):
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.session == session else None

    @staticmethod
    def cancel(job: Job) -> None:
        """Stop ``job``: at once if it waits, after the layer it computes if it runs."""
        job.cancelled.set()
        if not job.started:
            job.finish("cancelled", {})

    def close(self) -> None:
        """Cancel every job and stop the worker."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.cancel(job)
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job.started = True
            if job.cancelled.is_set() or job.picture is None:
                job.finish("cancelled", {})
                continue
            try:
                result_id = self._run(job.request, job.picture, job)
            except Cancelled:
                job.finish("cancelled", {})
            except SunyError as err:
                job.finish("error", {"detail": str(err)})
            except Exception as err:  # a failure of the method itself: this job ends, the worker goes on
                logger.exception("job %s (%s) failed", job.job_id, job.request.method)
                job.finish("error", {"detail": f"{job.request.method} failed: {type(err).__name__}: {err}"})
            else:
                job.finish("result", {"result_id": result_id})
