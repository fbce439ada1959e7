"""Forms of the staff console. They parse and shape input; the rules (legal transitions,
who can be assigned, what a note may hold) are the core's, reported back next to the fields
they name with ``add_core_errors``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from civicdesk.accounts.models import User
from civicdesk.catalog.models import Department, Service, Team
from civicdesk.errors import InvalidInput
from civicdesk.portal.forms import ReportForm
from civicdesk.servicerequests.models import Priority
from civicdesk.servicerequests.statuses import Status

from .models import KnowledgeArticle
from .selectors import STATUS_FORM_EXCLUDED, workers


class CoreErrorsMixin:
    """Show a core ``InvalidInput`` next to the fields it names (the rest at the top)."""

    core_field_map: dict[str, str] = {}

    def core_field(self, name: str) -> str | None:
        """The form field that shows the core's errors about ``name`` (None: the top)."""
        form: forms.Form = self  # type: ignore[assignment]
        target = self.core_field_map.get(name, name)
        return target if target in form.fields else None

    def add_core_errors(self, error: InvalidInput) -> None:
        form: forms.Form = self  # type: ignore[assignment]
        for name, messages in error.field_errors.items():
            target = self.core_field(name)
            for message in messages:
                form.add_error(target, message)


VISIBILITY_CHOICES = [
    ("internal", _("Internal: staff only")),
    ("public", _("Public: shown on the request's page and sent to its followers")),
]


def visibility_field(initial: str = "internal", *, required: bool = True) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Who sees the note"),
        choices=VISIBILITY_CHOICES,
        initial=initial,
        required=required,
        widget=forms.RadioSelect,
    )


def note_field(*, required: bool = False, label: Any = None) -> forms.CharField:
    return forms.CharField(
        label=label or _("Note"),
        required=required,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.department.name}: {obj.name}"


class WorkerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        department = obj.department.name if obj.department else _("all departments")
        return f"{obj} ({department})"


class ActionForm(CoreErrorsMixin, forms.Form):
    """Every change to a request carries the version the person saw."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    prefix_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", self.prefix_name or None)
        super().__init__(*args, **kwargs)


class AcknowledgeForm(ActionForm):
    prefix_name = "ack"


class AssignmentFields(forms.Form):
    """The team and person a request is given to: one declaration for single and bulk."""

    team = TeamChoiceField(
        label=_("Team"),
        queryset=Team.objects.select_related("department").order_by("department__name", "name"),
        required=False,
        empty_label=_("No particular team"),
    )
    assignee = WorkerChoiceField(
        label=_("Person"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("No particular person"),
    )


class AssignForm(ActionForm, AssignmentFields):
    prefix_name = "assign"
    field_order = ["department", "team", "assignee", "note"]
    core_field_map = {"department": "department", "team": "team", "assignee": "assignee"}
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=Department.objects.filter(active=True).order_by("name"),
        required=False,
        empty_label=_("Keep the department (or the team's)"),
    )
    note = note_field(label=_("Internal note (optional)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = workers()  # type: ignore[attr-defined]


class StatusForm(ActionForm):
    prefix_name = "status"
    core_field_map = {"to_status": "to_status"}
    to_status = forms.ChoiceField(label=_("New status"), choices=())
    note = note_field()
    visibility = visibility_field("public")

    def __init__(self, *args: Any, statuses: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_status"].choices = [(s, Status(s).label) for s in statuses]  # type: ignore[attr-defined]


class NoteForm(ActionForm):
    prefix_name = "note"
    note = note_field(required=True)
    visibility = visibility_field()


class PriorityForm(ActionForm):
    prefix_name = "priority"
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)


class MergeForm(ActionForm):
    prefix_name = "merge"
    core_field_map = {"parent": "parent"}
    parent = forms.CharField(
        label=_("Request it duplicates"),
        max_length=32,
        help_text=_("The request number, for example 26-004817."),
    )
    note = note_field(label=_("Public note (optional)"))


class ReferForm(ActionForm):
    prefix_name = "refer"
    core_field_map = {"referred_to": "referred_to"}
    referred_to = forms.CharField(
        label=_("Agency"),
        max_length=200,
        help_text=_("Who handles it instead, for example: Illinois Department of Transportation."),
    )
    note = note_field()
    visibility = visibility_field("public")


class ReopenForm(ActionForm):
    prefix_name = "reopen"
    core_field_map = {"note": "reason"}
    reason = note_field(required=True, label=_("Why it is reopened"))


# --------------------------------------------------------------------------------------
# Queue


QUEUE_SORTS = [
    ("due", _("Due date, soonest first")),
    ("priority", _("Priority, highest first")),
    ("requested", _("Reported, newest first")),
    ("oldest", _("Reported, oldest first")),
]
SLA_FILTER_CHOICES = [
    ("", _("Any")),
    ("overdue", _("Overdue")),
    ("due_soon", _("Due soon")),
    ("on_time", _("On time")),
]


def status_filter_choices() -> list[Any]:
    return [
        (
            _("Groups"),
            [("open", _("Open")), ("closed", _("Closed")), ("all", _("Open and closed"))],
        ),
        (_("One status"), list(Status.choices)),
    ]


class QueueFilterForm(forms.Form):
    """The queue's filters (GET). A value that is not one of the choices is ignored."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    department = forms.ChoiceField(label=_("Department"), required=False)
    team = forms.TypedChoiceField(label=_("Team"), required=False, coerce=int, empty_value=None)
    service = forms.ChoiceField(label=_("Service"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    district = forms.ChoiceField(label=_("Council district"), required=False)
    sla = forms.ChoiceField(label=_("Service level"), required=False, choices=SLA_FILTER_CHOICES)
    mine = forms.BooleanField(label=_("Assigned to me"), required=False)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=QUEUE_SORTS)

    def __init__(self, *args: Any, choices: Any, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["department"].choices = [("", _("All departments"))] + [
            (d.code, d.localized("name", language)) for d in choices.departments
        ]
        grouped: dict[str, list[tuple[int, str]]] = {}
        for team in choices.teams:
            grouped.setdefault(team.department.localized("name", language), []).append(
                (team.pk, team.name)
            )
        fields["team"].choices = [("", _("All teams")), *grouped.items()]
        fields["service"].choices = [("", _("All services"))] + [
            (s.service_code, s.localized("name", language)) for s in choices.services
        ]
        fields["status"].choices = status_filter_choices()
        fields["district"].choices = [("", _("All districts"))] + [
            (z.code, z.name) for z in choices.districts
        ]

    def filters(self) -> dict[str, Any]:
        """The valid filters; a garbled value falls back to its default rather than fail."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "q": (data.get("q") or "").strip(),
            "department": data.get("department") or "",
            "team": data.get("team"),
            "service": data.get("service") or "",
            "status": data.get("status") or "open",
            "district": data.get("district") or "",
            "sla": data.get("sla") or "",
            "mine": bool(data.get("mine")),
            "sort": data.get("sort") or "due",
        }


BULK_ACTIONS = [
    ("acknowledge", _("Acknowledge")),
    ("assign", _("Assign to a team or person")),
    ("status", _("Change status")),
]


class BulkForm(AssignmentFields):
    field_order = ["action", "ids", "team", "assignee"]
    action = forms.ChoiceField(label=_("Action"), choices=BULK_ACTIONS)
    ids = forms.TypedMultipleChoiceField(label=_("Requests"), coerce=int, required=True, choices=())
    to_status = forms.ChoiceField(
        label=_("New status"),
        required=False,
        choices=[("", "---------")]
        + [(s, label) for s, label in Status.choices if s not in STATUS_FORM_EXCLUDED],
    )
    note = note_field()
    visibility = visibility_field(required=False)
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "bulk")
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = workers()  # type: ignore[attr-defined]
        # Any id may be posted: each is checked against the database and the user's rights.
        name = self.add_prefix("ids")
        raw = self.data.getlist(name) if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(v, v) for v in raw if str(v).isdigit()]  # type: ignore[attr-defined]
        self.fields["ids"].error_messages["required"] = _("Select at least one request.")

    def versions(self) -> dict[int, int | None]:
        """The version of each selected row as the person saw it."""
        out: dict[int, int | None] = {}
        for pk in self.cleaned_data["ids"]:
            raw = str(self.data.get(self.add_prefix(f"version-{pk}"), ""))
            out[pk] = int(raw) if raw.isdigit() else None
        return out


# --------------------------------------------------------------------------------------
# Phone intake


class IntakeForm(ReportForm):
    """The portal's report form as a call taker fills it in for a caller: the same questions
    and checks, with the caller's language and coordinates typed in instead of a map."""

    photos = None  # type: ignore[assignment]
    description = forms.CharField(
        label=_("What the caller reports"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    address = forms.CharField(
        label=_("Address or nearest intersection"),
        required=False,
        max_length=255,
        help_text=_("As the caller gives it. Or type the coordinates below."),
        # The first thing asked: focused when the page opens (after any error summary).
        widget=forms.TextInput(attrs={"data-focus-on-load": ""}),
    )
    lat = forms.CharField(
        label=_("Latitude"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text=_("Decimal degrees, for example 40.0134."),
    )
    long = forms.CharField(
        label=_("Longitude"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text=_("Decimal degrees, for example -89.0644."),
    )
    name = forms.CharField(label=_("Caller's name"), required=False, max_length=200)
    email = forms.CharField(
        label=_("Caller's email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(),
        help_text=_("Updates on the request are sent here."),
    )
    phone = forms.CharField(
        label=_("Caller's phone"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel"}),
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        choices=Priority.choices,
        coerce=int,
        required=False,
        empty_value=None,
        initial=Priority.NORMAL,
        help_text=_("Urgent: a danger to people or property right now."),
    )
    preferred_language = forms.ChoiceField(
        label=_("Caller's language"), choices=settings.LANGUAGES, initial=settings.LANGUAGE_CODE
    )
    sms_opt_in = forms.BooleanField(
        label=_("The caller wants text messages about this request"), required=False
    )

    def __init__(self, *args: Any, service: Service, **kwargs: Any) -> None:
        super().__init__(*args, service=service, **kwargs)
        if service.contact_required:
            self.fields["email"].help_text = _(
                "This service needs an email address or a phone number to call the caller back."
            )

    def add_core_errors(self, error: InvalidInput) -> None:
        """Coordinates and language are fields of their own here (the portal maps them to the
        address and drops the language)."""
        own = {"lat", "long", "preferred_language"}
        for name in own & set(error.field_errors):
            for message in error.field_errors[name]:
                self.add_error(name, message)
        rest = {k: v for k, v in error.field_errors.items() if k not in own}
        if rest:
            super().add_core_errors(InvalidInput(rest))


class ServiceChoiceForm(forms.Form):
    service = forms.ChoiceField(label=_("Service"), choices=())

    def __init__(self, *args: Any, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        groups: dict[str, list[tuple[str, str]]] = {}
        for s in Service.objects.filter(active=True).order_by("group", "name"):
            groups.setdefault(s.localized("group", language) or str(_("Other")), []).append(
                (s.service_code, s.localized("name", language))
            )
        self.fields["service"].choices = [("", _("Choose a service")), *groups.items()]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------
# Knowledge base


RICH_TEXT_HELP = _(
    "Leave a blank line between paragraphs. You may use <strong>, <em>, <h3>, <h4>, "
    'lists (<ul>, <ol>, <li>) and links (<a href="https://...">); anything else is removed.'
)


class KnowledgeArticleForm(forms.ModelForm):
    title_es = forms.CharField(
        label=_("Title in Spanish"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"lang": "es"}),
    )
    body_es = forms.CharField(
        label=_("Text in Spanish"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "lang": "es"}),
        help_text=RICH_TEXT_HELP,
    )

    class Meta:
        model = KnowledgeArticle
        fields = ["title", "body", "title_es", "body_es", "service", "published"]
        widgets = {"body": forms.Textarea(attrs={"rows": 12})}
        help_texts = {"body": RICH_TEXT_HELP}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        es = (self.instance.translations or {}).get("es", {})
        self.fields["title_es"].initial = es.get("title", "")
        self.fields["body_es"].initial = es.get("body", "")
        service: Any = self.fields["service"]
        service.queryset = Service.objects.order_by("name")
        service.empty_label = _("General: every call")

    def article(self) -> KnowledgeArticle:
        """The article with the form's changes applied, not yet saved."""
        article: KnowledgeArticle = self.instance
        translations = dict(article.translations or {})
        translations["es"] = {
            "title": self.cleaned_data["title_es"],
            "body": self.cleaned_data["body_es"],
        }
        article.translations = translations
        return article


class KnowledgeSearchForm(forms.Form):
    q = forms.CharField(label=_("Search articles"), required=False, max_length=100)
    service = forms.ChoiceField(label=_("Service"), required=False)

    def __init__(self, *args: Any, language: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [  # type: ignore[attr-defined]
            ("", _("All articles")),
            ("general", _("General articles")),
        ] + [
            (s.service_code, s.localized("name", language))
            for s in Service.objects.filter(knowledge_articles__isnull=False)
            .distinct()
            .order_by("name")
        ]

    def params(self) -> tuple[str, str]:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return (data.get("q") or "").strip(), data.get("service") or ""
