"""Staff console pages: thin adapters that check who is asking, parse the form, call one core
service and show what happened. Rules live in the services; the core's errors are shown as
messages or next to the field they name, never as a server error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicdesk.accounts.models import User
from civicdesk.audit.services import audit_record
from civicdesk.catalog.models import Service
from civicdesk.catalog.selectors import services_search
from civicdesk.errors import (
    CivicdeskError,
    InvalidInput,
    NotFound,
    StaleVersion,
    TransitionNotAllowed,
)
from civicdesk.i18n import current_language
from civicdesk.servicerequests.models import Channel, Priority, ServiceRequest
from civicdesk.servicerequests.selectors import duplicates_find, request_get
from civicdesk.servicerequests.services import (
    ContactInput,
    request_acknowledge,
    request_assign,
    request_create,
    request_merge,
    request_note_add,
    request_priority_set,
    request_reopen,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status

from . import access
from .access import staff_required
from .forms import (
    AcknowledgeForm,
    ActionForm,
    AssignForm,
    BulkForm,
    IntakeForm,
    KnowledgeArticleForm,
    KnowledgeSearchForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    ReferForm,
    ReopenForm,
    ServiceChoiceForm,
    StatusForm,
)
from .models import KnowledgeArticle
from .selectors import (
    QueueFilters,
    knowledge_articles,
    knowledge_for_service,
    next_statuses,
    queue_choices,
    queue_page,
    request_detail,
    request_for_staff,
    workers,
)
from .services import knowledge_article_save


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # staff_required has checked
    return user


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else 1


@require_http_methods(["GET", "HEAD"])
def login(request: HttpRequest) -> HttpResponse:
    """The console's old sign-in address: staff sign in on the shared sign-in page (with
    its second step), which brings them back here."""
    target = reverse("account_login")
    next_url = request.GET.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target += "?" + urlencode({"next": next_url})
    return HttpResponseRedirect(target)


class LogoutView(auth_views.LogoutView):
    next_page = "console:login"


# --------------------------------------------------------------------------------------
# Queue


@staff_required
@require_http_methods(["GET", "HEAD"])
def queue(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    language = current_language()
    choices = queue_choices(user)
    form = QueueFilterForm(request.GET, choices=choices, language=language, auto_id="filter-%s")
    filters = QueueFilters(**form.filters())
    result = queue_page(user=user, filters=filters, page=_page(request.GET.get("page")))
    query = request.GET.copy()
    query.pop("page", None)
    sla_links = {}
    for state in ("overdue", "due_soon"):
        link = query.copy()
        link["sla"] = state
        sla_links[state] = link.urlencode()
    bulk = BulkForm(initial={"next": request.get_full_path()})
    department_id = access.queue_department_id(user)
    fields: dict[str, Any] = bulk.fields
    fields["assignee"].queryset = workers(department_id)
    if department_id is not None:
        fields["team"].queryset = fields["team"].queryset.filter(department_id=department_id)
    return render(
        request,
        "console/queue.html",
        {
            "section": "queue",
            "form": form,
            "filters": filters,
            "result": result,
            "choices": choices,
            "language": language,
            "querystring": query.urlencode(),
            "sla_links": sla_links,
            "all_departments": access.sees_all_departments(user),
            "can_work": access.can_work_requests(user),
            "no_department": access.queue_department_id(user) == 0,
            "bulk": bulk,
        },
    )


def _safe_next(request: HttpRequest, candidate: str, fallback: str) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


BulkHandler = Callable[[int, User, dict[str, Any], int | None], Any]


def _bulk_acknowledge(pk: int, user: User, data: dict[str, Any], version: int | None) -> Any:
    return request_acknowledge(request=pk, actor=user, note="", expected_version=version)


def _bulk_assign(pk: int, user: User, data: dict[str, Any], version: int | None) -> Any:
    return request_assign(
        request=pk,
        team=data["team"],
        assignee=data["assignee"],
        note=data["note"],
        actor=user,
        expected_version=version,
    )


def _bulk_status(pk: int, user: User, data: dict[str, Any], version: int | None) -> Any:
    return request_transition(
        request=pk,
        to_status=data["to_status"],
        note=data["note"],
        note_public=data["visibility"] == "public",
        actor=user,
        expected_version=version,
    )


BULK_HANDLERS: dict[str, BulkHandler] = {
    "acknowledge": _bulk_acknowledge,
    "assign": _bulk_assign,
    "status": _bulk_status,
}


@staff_required(allowed=access.can_work_requests)
@require_POST
def bulk(request: HttpRequest) -> HttpResponse:
    """Apply one action to each selected request in turn; one refusal does not stop the
    others, and each refusal is reported with its request number."""
    user = _user(request)
    form = BulkForm(request.POST)
    back = _safe_next(
        request, str(request.POST.get(form.add_prefix("next"), "")), reverse("console:queue")
    )
    if not form.is_valid():
        for field, errors in form.errors.items():
            label = form.fields[field].label if field in form.fields else ""
            for error in errors:
                messages.error(request, f"{label}: {error}" if label else str(error))
        return HttpResponseRedirect(back)
    data = form.cleaned_data
    if data["action"] == "assign" and not (data["team"] or data["assignee"]):
        messages.error(request, _("Choose a team or a person to assign the requests to."))
        return HttpResponseRedirect(back)
    if data["action"] == "status" and not data["to_status"]:
        messages.error(request, _("Choose the new status."))
        return HttpResponseRedirect(back)
    versions = form.versions()
    rows = {
        row["id"]: row
        for row in ServiceRequest.objects.filter(pk__in=list(versions)).values(
            "id", "public_id", "department_id"
        )
    }
    handler = BULK_HANDLERS[data["action"]]
    done, failed = [], []
    for pk, version in versions.items():
        row = rows.get(pk)
        if row is None:
            failed.append((str(pk), _("no such request")))
            continue
        if not access.can_act_on(user, row["department_id"]):
            failed.append((row["public_id"], _("you cannot change this department's requests")))
            continue
        try:
            handler(pk, user, data, version)
        except StaleVersion:
            failed.append((row["public_id"], _("changed by someone else meanwhile; reload")))
        except CivicdeskError as exc:
            failed.append((row["public_id"], exc.message))
        else:
            done.append(row["public_id"])
    if done:
        messages.success(
            request,
            _("Updated %(count)s of %(total)s requests: %(ids)s.")
            % {"count": len(done), "total": len(versions), "ids": ", ".join(done)},
        )
    for public_id, reason in failed:
        messages.error(
            request,
            _("%(id)s was not changed: %(reason)s") % {"id": public_id, "reason": reason},
        )
    return HttpResponseRedirect(back)


# --------------------------------------------------------------------------------------
# One request


def _staff_request(public_id: str) -> ServiceRequest:
    sr = request_for_staff(public_id)
    if sr is None:
        raise Http404
    return sr


def _action_forms(sr: ServiceRequest, statuses: list[str]) -> dict[str, ActionForm]:
    initial = {"expected_version": sr.version}
    return {
        "acknowledge": AcknowledgeForm(initial=initial),
        "assign": AssignForm(
            initial={**initial, "department": sr.department_id, "team": sr.team_id}
        ),
        "status": StatusForm(initial=initial, statuses=statuses),
        "note": NoteForm(initial=initial),
        "priority": PriorityForm(initial={**initial, "priority": sr.priority}),
        "merge": MergeForm(initial=initial),
        "refer": ReferForm(initial=initial),
        "reopen": ReopenForm(initial=initial),
    }


def _render_detail(
    request: HttpRequest,
    sr: ServiceRequest,
    *,
    bound: tuple[str, ActionForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = _user(request)
    language = current_language()
    detail = request_detail(request=sr, viewer=user, language=language)
    reporter = detail.reporter
    if reporter is not None and (reporter.name or reporter.email or reporter.phone):
        # Who looked at a resident's contact details, and when, is on the record.
        audit_record("contact.view", actor=user, target=sr, details={"contact": reporter.pk})
    forms = _action_forms(sr, detail.next_statuses)
    failed = ""
    if bound is not None:
        failed, form = bound
        forms[failed] = form
    return render(
        request,
        "console/request.html",
        {
            "section": "queue",
            "sr": sr,
            "detail": detail,
            "forms": forms,
            "failed": failed,
            "failed_form": forms.get(failed),
            "language": language,
            "status_label": Status(sr.status).label,
        },
        status=status,
    )


@staff_required
@require_http_methods(["GET", "HEAD"])
def request_page(request: HttpRequest, public_id: str) -> HttpResponse:
    return _render_detail(request, _staff_request(public_id))


def _visibility(data: dict[str, Any]) -> bool:
    return bool(data.get("visibility") == "public")


def _do_acknowledge(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_acknowledge(request=sr, actor=user, expected_version=data["expected_version"])
    return _("The request is acknowledged.")


def _do_assign(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_assign(
        request=sr,
        department=data["department"],
        team=data["team"],
        assignee=data["assignee"],
        note=data["note"],
        actor=user,
        expected_version=data["expected_version"],
    )
    return _("The request is assigned.")


def _do_status(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_transition(
        request=sr,
        to_status=data["to_status"],
        note=data["note"],
        note_public=_visibility(data),
        actor=user,
        expected_version=data["expected_version"],
    )
    return _("The status is now %(status)s.") % {"status": Status(data["to_status"]).label}


def _do_note(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_note_add(
        request=sr,
        note=data["note"],
        public=_visibility(data),
        actor=user,
        expected_version=data["expected_version"],
    )
    return _("The note is added.")


def _do_priority(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_priority_set(
        request=sr, priority=data["priority"], actor=user, expected_version=data["expected_version"]
    )
    return _("The priority is set.")


def _do_merge(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    try:
        parent = request_get(data["parent"])
    except NotFound:
        raise InvalidInput({"parent": [_("There is no request with that number.")]}) from None
    root = request_merge(
        duplicate=sr,
        parent=parent,
        note=data["note"],
        actor=user,
        expected_version=data["expected_version"],
    )
    return _("Merged as a duplicate of %(id)s.") % {"id": root.public_id}


def _do_refer(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_transition(
        request=sr,
        to_status=Status.REFERRED,
        referred_to=data["referred_to"],
        note=data["note"],
        note_public=_visibility(data),
        actor=user,
        expected_version=data["expected_version"],
    )
    return _("The request is referred to %(agency)s.") % {"agency": data["referred_to"]}


def _do_reopen(sr: ServiceRequest, user: User, data: dict[str, Any]) -> str:
    request_reopen(
        request=sr, reason=data["reason"], actor=user, expected_version=data["expected_version"]
    )
    return _("The request is open again.")


ACTIONS: dict[str, tuple[type[ActionForm], Callable[[ServiceRequest, User, dict[str, Any]], str]]]
ACTIONS = {
    "acknowledge": (AcknowledgeForm, _do_acknowledge),
    "assign": (AssignForm, _do_assign),
    "status": (StatusForm, _do_status),
    "note": (NoteForm, _do_note),
    "priority": (PriorityForm, _do_priority),
    "merge": (MergeForm, _do_merge),
    "refer": (ReferForm, _do_refer),
    "reopen": (ReopenForm, _do_reopen),
}


@staff_required
@require_POST
def request_action(request: HttpRequest, public_id: str, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404
    sr = _staff_request(public_id)
    user = _user(request)
    if not access.can_act_on(user, sr.department_id):
        return access.forbidden(request, "act")
    form_class, handler = ACTIONS[action]
    kwargs: dict[str, Any] = {}
    if form_class is StatusForm:
        kwargs["statuses"] = next_statuses(sr.status)
    form = form_class(request.POST, **kwargs)
    if not form.is_valid():
        if "expected_version" in form.errors:
            messages.error(request, _("The form was incomplete: reload the page and try again."))
        return _render_detail(request, sr, bound=(action, form), status=400)
    try:
        done = handler(sr, user, form.cleaned_data)
    except StaleVersion:
        messages.error(
            request,
            _(
                "Someone else changed this request since you opened it. The page now shows the "
                "latest version: check it, then submit again."
            ),
        )
        sr = _staff_request(public_id)
        data = request.POST.copy()
        data[form.add_prefix("expected_version")] = str(sr.version)
        return _render_detail(request, sr, bound=(action, form_class(data, **kwargs)), status=409)
    except TransitionNotAllowed as exc:
        messages.error(
            request, _("This change is not allowed: %(reason)s") % {"reason": exc.message}
        )
        return _render_detail(request, sr, bound=(action, form), status=409)
    except InvalidInput as exc:
        form.add_core_errors(exc)
        return _render_detail(request, sr, bound=(action, form), status=400)
    except CivicdeskError as exc:
        messages.error(request, exc.message)
        return _render_detail(request, sr, bound=(action, form), status=400)
    messages.success(request, done)
    return redirect("console:request", public_id=sr.public_id)


# --------------------------------------------------------------------------------------
# Phone intake


@staff_required(allowed=access.can_take_calls)
@require_http_methods(["GET", "HEAD"])
def intake(request: HttpRequest) -> HttpResponse:
    """Step one: find the service, by words or from the full list."""
    language = current_language()
    choice = ServiceChoiceForm(request.GET if "service" in request.GET else None, language=language)
    if choice.is_bound and choice.is_valid():
        return redirect("console:intake_service", service_code=choice.cleaned_data["service"])
    query = request.GET.get("q", "").strip()[:100]
    return render(
        request,
        "console/intake.html",
        {
            "section": "intake",
            "choice": choice,
            "query": query,
            "results": services_search(query) if query else None,
            "language": language,
        },
        status=400 if choice.is_bound else 200,
    )


@staff_required(allowed=access.can_take_calls)
@require_http_methods(["GET", "HEAD", "POST"])
def intake_service(request: HttpRequest, service_code: str) -> HttpResponse:
    """Step two: the service's questions, the place and the caller; creates the request."""
    service = get_object_or_404(Service, service_code=service_code, active=True)
    language = current_language()
    if request.method == "POST":
        form = IntakeForm(request.POST, service=service)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = request_create(
                    service_code=service.service_code,
                    description=data["description"],
                    attributes=form.answers(),
                    lat=data["lat"] or None,
                    long=data["long"] or None,
                    address=data["address"],
                    channel=Channel.PHONE,
                    priority=data["priority"] or Priority.NORMAL,
                    contact=ContactInput(
                        name=data["name"],
                        email=data["email"],
                        phone=data["phone"],
                        preferred_language=data["preferred_language"],
                        sms_opt_in=data["sms_opt_in"],
                    ),
                    actor=_user(request),
                )
            except InvalidInput as exc:
                form.add_core_errors(exc)
            else:
                return redirect("console:intake_done", public_id=created.public_id)
    else:
        form = IntakeForm(service=service, initial={"preferred_language": language})
    return render(
        request,
        "console/intake_form.html",
        {
            "section": "intake",
            "service": service,
            "form": form,
            "articles": knowledge_for_service(service),
            "language": language,
        },
        status=400 if request.method == "POST" else 200,
    )


@staff_required(allowed=access.can_take_calls)
@require_http_methods(["GET", "HEAD"])
def intake_done(request: HttpRequest, public_id: str) -> HttpResponse:
    sr = _staff_request(public_id)
    duplicates = []
    if sr.lat is not None and sr.long is not None and sr.is_open:
        duplicates = duplicates_find(
            service=sr.service, lat=sr.lat, long=sr.long, at=sr.requested_at, exclude_id=sr.pk
        )
    return render(
        request,
        "console/intake_done.html",
        {"section": "intake", "sr": sr, "duplicates": duplicates, "language": current_language()},
    )


# --------------------------------------------------------------------------------------
# Knowledge base


@staff_required
@require_http_methods(["GET", "HEAD"])
def knowledge(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    language = current_language()
    form = KnowledgeSearchForm(request.GET, language=language)
    query, service_code = form.params()
    return render(
        request,
        "console/kb_list.html",
        {
            "section": "kb",
            "form": form,
            "query": query,
            "articles": knowledge_articles(
                query=query,
                service_code=service_code,
                include_unpublished=access.can_edit_knowledge(user),
            ),
            "can_edit": access.can_edit_knowledge(user),
            "language": language,
        },
    )


def _article(request: HttpRequest, slug: str) -> KnowledgeArticle:
    article = get_object_or_404(KnowledgeArticle.objects.select_related("service"), slug=slug)
    if not article.published and not access.can_edit_knowledge(_user(request)):
        raise Http404
    return article


@staff_required
@require_http_methods(["GET", "HEAD"])
def knowledge_article(request: HttpRequest, slug: str) -> HttpResponse:
    article = _article(request, slug)
    language = current_language()
    others = [
        (code, name)
        for code, name in settings.LANGUAGES
        if code != language
        and (code == settings.LANGUAGE_CODE or (article.translations or {}).get(code))
    ]
    return render(
        request,
        "console/kb_article.html",
        {
            "section": "kb",
            "article": article,
            "language": language,
            "others": others,
            "can_edit": access.can_edit_knowledge(_user(request)),
        },
    )


@staff_required(allowed=access.can_edit_knowledge)
@require_http_methods(["GET", "HEAD", "POST"])
def knowledge_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    article = _article(request, slug) if slug else KnowledgeArticle()
    form = KnowledgeArticleForm(request.POST or None, instance=article)
    if request.method == "POST" and form.is_valid():
        try:
            saved = knowledge_article_save(article=form.article(), actor=_user(request))
        except InvalidInput as exc:
            for field, errors in exc.field_errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("The article is saved."))
            return redirect("console:kb_article", slug=saved.slug)
    return render(
        request,
        "console/kb_edit.html",
        {"section": "kb", "form": form, "article": article if slug else None},
        status=400 if request.method == "POST" else 200,
    )
