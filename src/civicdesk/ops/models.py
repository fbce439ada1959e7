"""Bookkeeping for background jobs: which periodic jobs ran when, and which workers live."""

from __future__ import annotations

from django.db import models


class PeriodicJob(models.Model):
    name = models.CharField(max_length=64, unique=True)
    task_path = models.CharField(max_length=200)
    interval_seconds = models.PositiveIntegerField()
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker_id} on {self.hostname}:{self.pid}"
