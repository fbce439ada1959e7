"""``civicdesk survey analyze``: rake resident survey responses to population targets and
write weights, estimates with standard errors, and weighting diagnostics.
``civicdesk survey report SLUG --out DIR``: the council report PDF and the CSV of every
estimate of a survey fielded in civicdesk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.surveys.analysis import SurveyInputError, survey_analyze
from civicdesk.surveys.analysis.raking import DEFAULT_MAX_ITERATIONS, DEFAULT_TOLERANCE


class Command(BaseCommand):
    help = (
        "Analyse resident surveys: analyze (raking, estimates and standard errors), "
        "report (a fielded survey's council report PDF and estimates CSV)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{analyze,report}")
        analyze = sub.add_parser(
            "analyze",
            help="Rake RESPONSES.csv to TARGETS.csv and estimate each item.",
            description="Writes DIR/weights.csv, DIR/estimates.csv and DIR/diagnostics.json "
            "(see docs/surveys.md), or nothing at all if the input has a problem.",
        )
        analyze.add_argument("responses", metavar="RESPONSES.csv", type=Path)
        analyze.add_argument(
            "--targets",
            required=True,
            type=Path,
            metavar="TARGETS.csv",
            help="variable,category,population: population totals of each raking variable",
        )
        analyze.add_argument(
            "--items",
            required=True,
            metavar="COL[,COL...]",
            help="columns to estimate: numeric (weighted mean) or rating (share positive)",
        )
        analyze.add_argument("--weight", metavar="COL", help="base (design) weight column")
        analyze.add_argument("--strata", metavar="COL", help="stratum column")
        analyze.add_argument("--cluster", metavar="COL", help="cluster (PSU) column")
        analyze.add_argument(
            "--fpc",
            metavar="COL",
            help="population size of the stratum (in units, or in clusters with --cluster)",
        )
        analyze.add_argument("--by", metavar="COL", help="also estimate for each group of COL")
        analyze.add_argument("--out", required=True, type=Path, metavar="DIR")
        analyze.add_argument(
            "--tolerance",
            type=float,
            default=DEFAULT_TOLERANCE,
            help="raking stops when every weighted margin is within this share of its "
            f"population (default {DEFAULT_TOLERANCE:g})",
        )
        analyze.add_argument(
            "--max-iterations",
            type=int,
            default=DEFAULT_MAX_ITERATIONS,
            help=f"raking sweeps before giving up (default {DEFAULT_MAX_ITERATIONS})",
        )
        analyze.add_argument(
            "--trim-max",
            type=float,
            metavar="X",
            help="cap each weight at X times the mean weight, then rake again",
        )
        analyze.add_argument(
            "--trim-min",
            type=float,
            metavar="X",
            help="raise each weight to at least X times the mean weight, then rake again",
        )

        report = sub.add_parser(
            "report",
            help="Write a fielded survey's council report (PDF) and every estimate (CSV).",
            description="Writes DIR/SLUG-results.pdf and DIR/SLUG-estimates.csv (see "
            "docs/surveys.md, 'Results, benchmarks and the council report').",
        )
        report.add_argument("slug", metavar="SLUG")
        report.add_argument("--out", required=True, type=Path, metavar="DIR")
        report.add_argument("--language", default="en", choices=["en", "es"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "report":
            self._report(options)
            return
        items = [c.strip() for c in options["items"].split(",") if c.strip()]
        try:
            result = survey_analyze(
                responses_path=options["responses"],
                targets_path=options["targets"],
                items=items,
                out=options["out"],
                weight=options["weight"],
                strata=options["strata"],
                cluster=options["cluster"],
                fpc=options["fpc"],
                by=options["by"],
                tolerance=options["tolerance"],
                max_iterations=options["max_iterations"],
                trim_max=options["trim_max"],
                trim_min=options["trim_min"],
            )
        except SurveyInputError as exc:
            raise CommandError(str(exc)) from None
        d = result.diagnostics
        rk, w = d["raking"], d["weights"]
        self.stdout.write(
            f"raking: {', '.join(rk['variables'])}: converged after {rk['iterations']} "
            f"iteration{'s' if rk['iterations'] != 1 else ''} "
            f"(largest gap {rk['largest_gap']['relative']:.2g})"
            + (f", {rk['trimmed']} weights trimmed" if rk["trim_cycles"] else "")
        )
        self.stdout.write(
            f"weights: {w['respondents']} respondents, total {w['weight_total']:,.6g}, "
            f"min {w['weight_min']:.4g}, max {w['weight_max']:.4g} "
            f"(ratio {w['weight_ratio_max_min']:.3g}); design effect due to weighting "
            f"{w['deff_weighting_kish']:.3f}, effective sample size "
            f"{w['effective_sample_size']:,.0f}"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(result.estimates)} estimates of {len(items)} items written to "
                f"{result.out}/ (weights.csv, estimates.csv, diagnostics.json)"
            )
        )

    def _report(self, options: dict[str, Any]) -> None:
        from civicdesk.surveys.models import Survey
        from civicdesk.surveys.results import estimates_csv, survey_estimate
        from civicdesk.surveys.results_pdf import results_pdf

        survey = Survey.objects.filter(slug=options["slug"]).first()
        if survey is None:
            raise CommandError(f"no survey has the slug {options['slug']!r}")
        out: Path = options["out"]
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        results = survey_estimate(survey)
        pdf = out / f"{survey.slug}-results.pdf"
        table = out / f"{survey.slug}-estimates.csv"
        pdf.write_bytes(results_pdf(survey, options["language"]))
        table.write_text(estimates_csv(results), encoding="utf-8")
        if results.error:
            self.stderr.write(results.error)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(results.estimates) + len(results.open_estimates)} estimates: "
                f"{pdf} and {table} written"
            )
        )
