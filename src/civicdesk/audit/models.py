"""The audit log: one append-only table whose entries are chained by hash.

Each entry stores the SHA-256 of its own content together with the hash of the entry before
it, so editing an entry changes its hash and deleting one breaks the link from the entry that
followed it. The application only ever inserts rows here (see ``services.audit_record``); the
database refuses updates (and, on PostgreSQL, deletions) with a trigger, and
``civicdesk audit verify`` recomputes the whole chain.
"""

from __future__ import annotations

from django.db import models

GENESIS_HASH = "0" * 64


class AuditEntry(models.Model):
    # ``sequence`` numbers entries 1, 2, 3... with no gaps; it is part of the hashed content,
    # so a deleted entry shows as a gap even if someone recomputes the hashes after it.
    sequence = models.BigIntegerField(unique=True)
    at = models.DateTimeField()
    # Who: kept as plain values (no foreign key), so that nothing ever has to update an entry
    # when an account is changed or removed.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="Username, or the system.")
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # From where: the client's address and program for web actions; "cli" for commands.
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return (
            f"#{self.sequence} {self.at:%Y-%m-%d %H:%M:%S} {self.actor or 'system'} {self.action}"
        )
