"""Test-only background jobs.

The jobs live under ``tests`` so a worker started in a subprocess (with /work/main on its
path) imports them by the same dotted path as this process."""

from __future__ import annotations

import time

from django_tasks import TaskContext, task


@task()
def add(a: int, b: int) -> int:
    return a + b


@task(takes_context=True)
def sleep_on_first_attempt(context: TaskContext, seconds: float) -> int:
    """Sleep ``seconds`` on the first attempt (long enough to be killed mid-job); any later
    attempt returns at once. Returns the attempt that finished."""
    attempt = int(context.attempt)
    if attempt == 1:
        time.sleep(seconds)
    return attempt
