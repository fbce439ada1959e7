"""Who may do what with surveys in the staff console (docs/surveys.md, "Who does what"):

- supervisors and administrators build and field surveys: questions, publishing, the
  sample and its codes, mailings and reminders, paper entry;
- analysts read: the list, the preview and the tracking figures (never addresses or codes),
  and read and set up the results (targets, benchmarks, comparisons);
- call takers enter returned paper questionnaires (they already key in what residents say);
- department staff have no part in surveys.
"""

from __future__ import annotations

from civicdesk.accounts.models import Role, User

BUILDER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMINISTRATOR})
READER_ROLES = BUILDER_ROLES | {Role.ANALYST}
PAPER_ROLES = BUILDER_ROLES | {Role.CALL_TAKER}
SURVEY_ROLES = READER_ROLES | PAPER_ROLES


def can_see_surveys(user: User) -> bool:
    return user.role in SURVEY_ROLES


def can_build_surveys(user: User) -> bool:
    return user.role in BUILDER_ROLES


def can_read_survey_results(user: User) -> bool:
    return user.role in READER_ROLES


def can_set_up_results(user: User) -> bool:
    """Population targets, benchmarks, comparison settings and ties to 311 services. These
    change what the results say, so only the builders set them; analysts read (their role
    changes nothing)."""
    return user.role in BUILDER_ROLES


def can_enter_paper(user: User) -> bool:
    return user.role in PAPER_ROLES
