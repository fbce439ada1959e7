"""The console's budget pages: what a period's requests cost, the unit costs, and next year's
forecast, workload and budget. Every staff role reads them; administrators set the unit costs
(they are the city's finance figures, entered in one place), by the form or a CSV file."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language
from civicdesk.performance.budget import cost_summary, unit_costs
from civicdesk.performance.costs import costs_csv_parse, costs_export, unit_costs_save
from civicdesk.performance.forecast import METHOD_NAMES, METHODS, outlook
from civicdesk.performance.selectors import Filters

from .access import staff_required
from .budget_forms import BudgetPeriodForm, CostsUploadForm, UnitCostsForm, last_whole_month

COST_EDITOR_ROLES = frozenset({Role.ADMINISTRATOR})


def can_edit_costs(user: User) -> bool:
    return user.role in COST_EDITOR_ROLES


@staff_required
@require_http_methods(["GET", "HEAD"])
def budget(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    language = current_language()
    today = timezone.localdate()
    start, end = last_whole_month(today)
    if "start" in request.GET or "end" in request.GET:
        form = BudgetPeriodForm(request.GET, auto_id="period-%s")
    else:
        form = BudgetPeriodForm(initial={"start": start, "end": end}, auto_id="period-%s")
    costs = table = None
    if not form.is_bound or form.is_valid():
        if form.is_bound:
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        filters = Filters(start=start, end=end)
        costs = cost_summary(filters, language=language)
        table = unit_costs(as_of=min(end, today), language=language)
    view = outlook(as_of=today, language=language)
    return render(
        request,
        "console/performance/budget.html",
        {
            "section": "budget",
            "form": form,
            "costs": costs,
            "unit_costs": table,
            "outlook": view,
            "methods": [
                (METHOD_NAMES[name], METHODS[name], count)
                for name, count in sorted(view.methods.items())
            ],
            "forecast_months": list(zip(view.months, view.monthly_total, strict=True)),
            "can_edit": can_edit_costs(user),
            "currency": settings.CIVICDESK_CURRENCY_SYMBOL,
            "start": start,
            "end": end,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _costs_page(
    request: HttpRequest,
    *,
    form: UnitCostsForm | None = None,
    upload: CostsUploadForm | None = None,
    status: int = 200,
) -> HttpResponse:
    language = current_language()
    if form is None:
        form = _costs_form(None, language)
    return render(
        request,
        "console/performance/budget_costs.html",
        {
            "section": "budget",
            "form": form,
            "upload": upload or CostsUploadForm(auto_id="upload-%s"),
            "currency": settings.CIVICDESK_CURRENCY_SYMBOL,
        },
        status=status,
    )


def _costs_form(data: Any, language: str) -> UnitCostsForm:
    return UnitCostsForm(
        data,
        departments=list(Department.objects.filter(active=True).order_by("name")),
        services=list(
            Service.objects.filter(active=True)
            .select_related("department")
            .order_by("department__name", "name")
        ),
        language=language,
    )


@staff_required(allowed=can_edit_costs)
@require_http_methods(["GET", "HEAD", "POST"])
def budget_costs(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _costs_page(request)
    form = _costs_form(request.POST, current_language())
    if not form.is_valid():
        return _costs_page(request, form=form, status=400)
    saved = unit_costs_save(changes=form.changes)
    messages.success(request, _("The unit costs are saved: %(summary)s") % {"summary": saved})
    return redirect("console:performance-budget-costs")


@staff_required(allowed=can_edit_costs)
@require_POST
def budget_costs_upload(request: HttpRequest) -> HttpResponse:
    upload = CostsUploadForm(request.POST, request.FILES, auto_id="upload-%s")
    if upload.is_valid():
        try:
            changes = costs_csv_parse(upload.cleaned_data["file"].read())
        except InvalidInput as exc:
            upload.add_error(None, _("Nothing was saved: correct the file and load it again."))
            for where, errors in exc.field_errors.items():
                for error in errors:
                    upload.add_error(
                        None, error if where in ("__all__", "file") else f"{where}: {error}"
                    )
        else:
            saved = unit_costs_save(changes=changes)
            messages.success(
                request, _("The costs file is loaded: %(summary)s") % {"summary": saved}
            )
            return redirect("console:performance-budget-costs")
    return _costs_page(request, upload=upload, status=400)


@staff_required
@require_http_methods(["GET", "HEAD"])
def budget_costs_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(costs_export(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="unit-costs-{stamp}.csv"'
    return response
