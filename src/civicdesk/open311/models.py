"""API keys (stored hashed) and the record of each request posted through the API."""

from __future__ import annotations

from django.db import models


class ApiKey(models.Model):
    """A key an app posts requests with. Only a hash of the key is kept: the key itself is
    shown once, when it is created."""

    name = models.CharField(max_length=200, help_text="Who the key is for (app, vendor).")
    prefix = models.CharField(max_length=12, unique=True, help_text="First characters, to find it.")
    key_hash = models.CharField(max_length=64, unique=True)
    posts_per_minute = models.PositiveIntegerField(default=60)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        state = " (revoked)" if self.revoked_at else ""
        return f"{self.name} [{self.prefix}...]{state}"


class ApiSubmission(models.Model):
    """One request posted through the API: the token that finds it again, and the device and
    account ids the app sent (personal data: never shown by the public API)."""

    token = models.CharField(max_length=40, unique=True)
    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="submissions")
    request = models.OneToOneField(
        "servicerequests.ServiceRequest", on_delete=models.CASCADE, related_name="api_submission"
    )
    device_id = models.CharField(max_length=200, blank=True)
    account_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["api_key", "created_at"])]

    def __str__(self) -> str:
        return self.token
