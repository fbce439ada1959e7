from django.contrib import admin

from .models import PeriodicJob, WorkerHeartbeat


@admin.register(PeriodicJob)
class PeriodicJobAdmin(admin.ModelAdmin):
    list_display = ("name", "interval_seconds", "last_run_at", "next_run_at")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen")
