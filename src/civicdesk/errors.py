"""The application's error hierarchy: every door (web, API, command line) maps these to its
own error shape, so a bad input always reads as a clear, specific message and never a 500."""

from __future__ import annotations


class CivicdeskError(Exception):
    """Base class: ``code`` is stable for machines, the message is for people."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(CivicdeskError):
    """The input does not meet the rules; ``field_errors`` names each offending field."""

    code = "invalid"

    def __init__(self, field_errors: dict[str, list[str]] | str, *, code: str | None = None):
        if isinstance(field_errors, str):
            field_errors = {"__all__": [field_errors]}
        self.field_errors = field_errors
        message = "; ".join(
            (msg if field == "__all__" else f"{field}: {msg}")
            for field, msgs in field_errors.items()
            for msg in msgs
        )
        super().__init__(message, code=code)


class NotFound(CivicdeskError):
    code = "not_found"


class OutsideJurisdiction(InvalidInput):
    code = "outside_jurisdiction"


class TransitionNotAllowed(CivicdeskError):
    code = "transition_not_allowed"


class StaleVersion(CivicdeskError):
    """Someone else changed the record since it was read; reload and try again."""

    code = "stale"


class PermissionDenied(CivicdeskError):
    code = "permission_denied"


class RateLimited(CivicdeskError):
    """Too many requests from one client (address or API key); retry after ``retry_after`` s."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
