"""Who may do what in the staff console. Views check these before calling a service; the
roles themselves (and who may see contact details) are defined in ``accounts``.

- Every staff role may sign in and read requests and the knowledge base.
- Department staff and supervisors work their own department's queue; administrators, call
  takers and analysts see every department.
- Analysts only read: no actions, no intake, never a reporter's contact details.
- Supervisors and administrators write knowledge-base articles.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from civicdesk.accounts.models import STAFF_ROLES, Role, User

ALL_DEPARTMENT_ROLES = frozenset({Role.ADMINISTRATOR, Role.CALL_TAKER, Role.ANALYST})
WORKING_ROLES = frozenset(STAFF_ROLES - {Role.ANALYST})
INTAKE_ROLES = WORKING_ROLES
KNOWLEDGE_EDITOR_ROLES = frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR})


def is_console_user(user: Any) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in STAFF_ROLES)


def sees_all_departments(user: User) -> bool:
    return user.role in ALL_DEPARTMENT_ROLES


def queue_department_id(user: User) -> int | None:
    """The department whose requests this user's queue is limited to (None: all of them).

    A department-bound user without a department sees nothing (``0`` matches no row) rather
    than everything: an account set up halfway should not widen what it can read.
    """
    if sees_all_departments(user):
        return None
    return user.department_id or 0


def can_work_requests(user: User) -> bool:
    return user.role in WORKING_ROLES


def can_act_on(user: User, department_id: int) -> bool:
    """Whether ``user`` may change a request held by ``department_id``."""
    if not can_work_requests(user):
        return False
    if sees_all_departments(user):
        return True
    return user.department_id == department_id


def can_take_calls(user: User) -> bool:
    return user.role in INTAKE_ROLES


def can_edit_knowledge(user: User) -> bool:
    return user.role in KNOWLEDGE_EDITOR_ROLES


def forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "console/forbidden.html", {"reason": reason}, status=403)


View = Callable[..., HttpResponse]


def staff_required(
    view: View | None = None, *, allowed: Callable[[User], bool] | None = None
) -> Any:
    """Sign-in required, then a staff role (and ``allowed`` if given); otherwise a 403 page
    that says why and offers to sign out."""

    def decorate(func: View) -> View:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_console_user(user):
                return forbidden(request)
            assert isinstance(user, User)
            if allowed is not None and not allowed(user):
                return forbidden(request, "role")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
