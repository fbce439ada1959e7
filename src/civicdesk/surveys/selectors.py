"""Reads of the surveys domain: response rates for tracking, the addresses still to remind."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from .models import Response, ResponseMode, SampleAddress, Survey


@dataclass(frozen=True)
class RateRow:
    group: str
    sampled: int
    responded: int

    @property
    def rate(self) -> float | None:
        return self.responded / self.sampled if self.sampled else None


@dataclass(frozen=True)
class ResponseRates:
    """The mailed sample's response rate overall, by wave and by area; responses outside
    the sample (open link, paper without a code) are counted apart: they are not part of
    the random sample and have no rate."""

    overall: RateRow
    by_wave: list[RateRow]
    by_area: list[RateRow]
    open_link: int
    paper_without_code: int
    in_progress: int


def _rows(survey: Survey, field: str) -> list[RateRow]:
    rows = (
        SampleAddress.objects.filter(survey=survey)
        .values(field)
        .annotate(sampled=Count("id"), responded=Count("id", filter=Q(used_at__isnull=False)))
        .order_by(field)
    )
    return [RateRow(str(r[field]), r["sampled"], r["responded"]) for r in rows]


def response_rates(survey: Survey) -> ResponseRates:
    totals = SampleAddress.objects.filter(survey=survey).aggregate(
        sampled=Count("id"), responded=Count("id", filter=Q(used_at__isnull=False))
    )
    submitted = Response.objects.filter(survey=survey, submitted_at__isnull=False)
    counts = submitted.aggregate(
        open_link=Count("id", filter=Q(mode=ResponseMode.OPEN_LINK)),
        # A paper questionnaire with a code marks the code used; without one it is counted
        # here. (In an anonymous survey no response names its code: the paper ones that
        # used a code are those beyond the codes marked used by mail.)
        paper=Count("id", filter=Q(mode=ResponseMode.PAPER)),
        mail=Count("id", filter=Q(mode=ResponseMode.MAIL_CODE)),
    )
    coded_paper = max(0, (totals["responded"] or 0) - counts["mail"])
    in_progress = Response.objects.filter(survey=survey, submitted_at__isnull=True).count()
    return ResponseRates(
        overall=RateRow("", totals["sampled"] or 0, totals["responded"] or 0),
        by_wave=_rows(survey, "wave__name"),
        by_area=_rows(survey, "area"),
        open_link=counts["open_link"],
        paper_without_code=max(0, counts["paper"] - coded_paper),
        in_progress=in_progress,
    )


def sample_nonresponders(survey: Survey, wave: str | None = None) -> QuerySet[SampleAddress]:
    """The sampled addresses whose code has not answered (for a reminder mailing)."""
    rows = SampleAddress.objects.filter(survey=survey, used_at__isnull=True).select_related("wave")
    if wave:
        rows = rows.filter(wave__name=wave)
    return rows.order_by("wave__name", "area", "address")


def sample_addresses(survey: Survey, wave: str | None = None) -> QuerySet[SampleAddress]:
    rows = SampleAddress.objects.filter(survey=survey).select_related("wave")
    if wave:
        rows = rows.filter(wave__name=wave)
    return rows.order_by("wave__name", "area", "address")
