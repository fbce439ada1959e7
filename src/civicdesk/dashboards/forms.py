"""The dashboards' filter form (GET): a period (a preset or custom dates), the grain of the
trend, and a service, department, district and channel. A value that cannot be used is an
error shown beside its field, never a guess and never a server error."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicdesk.errors import InvalidInput
from civicdesk.performance.selectors import GRAINS, FilterOptions, Filters, period_end, period_start
from civicdesk.servicerequests.models import Channel

PERIODS = [
    ("last_30_days", _("Last 30 days")),
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("this_quarter", _("This quarter")),
    ("last_quarter", _("Last quarter")),
    ("this_year", _("This year")),
    ("last_12_months", _("Last 12 months")),
    ("custom", _("Custom dates")),
]
DEFAULT_PERIOD = "last_12_months"
DEFAULT_GRAIN = "month"
# Dates outside these bounds are typing mistakes; they would also overflow date arithmetic.
EARLIEST = dt.date(1900, 1, 1)
LATEST_AHEAD = dt.timedelta(days=366)
# A trend of more points than this is unreadable as a chart and slow to draw.
MAX_TREND_POINTS = 400


def preset_dates(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of a preset period, as seen on ``today``."""
    if period == "last_30_days":
        return today - dt.timedelta(days=29), today
    if period == "this_month":
        return period_start(today, "month"), today
    if period == "last_month":
        start = period_start(period_start(today, "month") - dt.timedelta(days=1), "month")
        return start, period_end(start, "month")
    if period == "this_quarter":
        return period_start(today, "quarter"), today
    if period == "last_quarter":
        start = period_start(period_start(today, "quarter") - dt.timedelta(days=1), "quarter")
        return start, period_end(start, "quarter")
    if period == "this_year":
        return period_start(today, "year"), today
    if period == "last_12_months":
        # Twelve calendar months, the current one to date: a monthly trend has 12 bars.
        month = period_start(today, "month")
        for _i in range(11):
            month = period_start(month - dt.timedelta(days=1), "month")
        return month, today
    raise ValueError(period)


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False)
    start = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    grain = forms.ChoiceField(label=_("Trend by"), choices=list(GRAINS.items()), required=False)
    service = forms.ChoiceField(label=_("Service"), required=False)
    department = forms.ChoiceField(label=_("Department"), required=False)
    district = forms.ChoiceField(label=_("Council district"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False)

    def __init__(
        self, *args: Any, options: FilterOptions, today: dt.date | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "perf-%s")
        super().__init__(*args, **kwargs)
        self.options = options
        self.today = today or timezone.localdate()
        fields: dict[str, Any] = self.fields
        grouped: dict[str, list[tuple[str, str]]] = {}
        for option in options.services:
            grouped.setdefault(option.group, []).append((option.code, option.name))
        fields["service"].choices = [("", _("All services")), *grouped.items()]
        fields["department"].choices = [("", _("All departments"))] + [
            (o.code, o.name) for o in options.departments
        ]
        fields["district"].choices = [("", _("All districts"))] + [
            (o.code, o.name) for o in options.districts
        ]
        fields["channel"].choices = [("", _("All channels")), *Channel.choices]
        self.filters: Filters | None = None
        self.trend_grain = DEFAULT_GRAIN

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if self.errors:
            return data
        period = data.get("period") or DEFAULT_PERIOD
        if period == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None:
                self.add_error("start", _("Enter the first day of the period."))
            if end is None:
                self.add_error("end", _("Enter the last day of the period."))
            if start is None or end is None:
                return data
            latest = self.today + LATEST_AHEAD
            for name, day in (("start", start), ("end", end)):
                if not EARLIEST <= day <= latest:
                    self.add_error(
                        name,
                        _("Enter a date between %(first)s and %(last)s.")
                        % {"first": EARLIEST.isoformat(), "last": latest.isoformat()},
                    )
            if self.errors:
                return data
        else:
            start, end = preset_dates(period, self.today)
            # Show the preset's dates in the From and To fields, ready to adjust.
            self._show(start=start.isoformat(), end=end.isoformat())
        grain = data.get("grain") or DEFAULT_GRAIN
        try:
            filters = Filters(
                start=start,
                end=end,
                service_ids=self._ids(self.options.services, data.get("service")),
                department_ids=self._ids(self.options.departments, data.get("department")),
                district_ids=self._ids(self.options.districts, data.get("district")),
                channels=(data["channel"],) if data.get("channel") else (),
            )
        except InvalidInput:
            self.add_error("end", _("The last day is before the first day."))
            return data
        points = (end - start).days // {"week": 7, "month": 28, "quarter": 90, "year": 365}[grain]
        if points > MAX_TREND_POINTS:
            self.add_error(
                "grain",
                _(
                    "That is too many periods to show as a trend: choose a longer grain or "
                    "a shorter period."
                ),
            )
            return data
        data["period"], data["grain"] = period, grain
        # The selects show what is in effect, defaults included.
        self._show(period=period, grain=grain)
        self.filters, self.trend_grain = filters, grain
        return data

    def _show(self, **values: str) -> None:
        """Put values in effect into the form's data, so that its fields show them."""
        data = self.data.copy()  # type: ignore[attr-defined]  # a QueryDict or a dict
        data.update(values)
        self.data = data

    @staticmethod
    def _ids(options: list[Any], code: str | None) -> tuple[int, ...]:
        if not code:
            return ()
        for option in options:
            if option.code == code:
                return tuple(option.ids)
        return ()  # not reached: the field's choices already refused an unknown code

    def query(self) -> dict[str, str]:
        """The filters as query parameters, the dates spelled out: a CSV link holds the
        figures on the page even when it is followed tomorrow."""
        if self.filters is None:
            return {}
        data = self.cleaned_data
        query = {
            "period": "custom",
            "start": self.filters.start.isoformat(),
            "end": self.filters.end.isoformat(),
            "grain": data["grain"],
        }
        for name in ("service", "department", "district", "channel"):
            if data.get(name):
                query[name] = data[name]
        return query
