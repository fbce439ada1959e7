"""Time the reads behind the performance dashboards, and the pages themselves.

    python bench/dashboard_bench.py --database-url URL        # a database already seeded: read only
    python bench/dashboard_bench.py --requests 1000000        # seed a fresh SQLite file first
    python bench/dashboard_bench.py --requests 1000000 \
        --database-url postgres://postgres@127.0.0.1:5432/civicdesk_bench_dash   # dropped, seeded

Each selector the pages call (figures, the three-period comparison, each breakdown, each
trend grain, the backlog, the district map) is timed over the last 12 months and the last
30 days, for all services and for the busiest one, as the median of --runs runs after a
warm-up. They share one read of the open past-due requests, as a page does; that read is
timed on its own. Then the public page and the staff dashboard are rendered through
Django's full request stack. The target (issue 5): under one second per page at 1,000,000
requests.

Without --requests, the database of --database-url is only read (never migrated, seeded or
dropped); migrate it and run rollups_rebuild() first if its rollups are older than the
code. With --requests and a PostgreSQL URL, that database (whose name must start with
civicdesk_bench) is dropped and created afresh. Results go to
bench/results/dashboard-<engine>-<requests>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 1000.0


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()  # warm-up: connections, caches, the first query plans
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def _reads(selectors: Any, filters: Any, late: Any) -> dict[str, Callable[[], Any]]:
    """Each read a dashboard makes, as a page makes it."""
    reads: dict[str, Callable[[], Any]] = {
        "open_past_due (once a page)": selectors.open_past_due,
        "measures": lambda: selectors.measures(filters, past_due=late),
        "comparison (3 periods)": lambda: selectors.comparison(filters, past_due=late),
        "backlog": lambda: selectors.backlog(filters),
        "district_map": lambda: selectors.district_map(
            filters, by_district=selectors.measures_by(filters, "district", past_due=late)
        ),
    }
    for dimension in ("service", "department", "district", "channel"):
        reads[f"measures_by {dimension}"] = lambda d=dimension: selectors.measures_by(
            filters, d, past_due=late
        )
    for grain in ("week", "month", "quarter", "year"):
        reads[f"measures_trend {grain}"] = lambda g=grain: selectors.measures_trend(
            filters, g, past_due=late
        )
    return reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--requests",
        type=int,
        default=0,
        help="seed this many first: into a fresh SQLite file, or into the civicdesk_bench* "
        "PostgreSQL database of --database-url, dropped and created afresh",
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.database_url and args.requests < 1:
        parser.error("give --database-url of a seeded database, or --requests N to seed one")

    workdir = tempfile.mkdtemp(prefix="civicdesk-dashboard-bench-")
    seed = args.requests > 0
    if seed and args.database_url:
        # Seeding into PostgreSQL: a fresh civicdesk_bench* database, dropped and created.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from seed_bench import _fresh_postgres

        _fresh_postgres(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["CIVICDESK_VAR_DIR"] = workdir
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.utils import timezone

    from civicdesk.accounts.models import Role, User
    from civicdesk.dashboards.forms import preset_dates
    from civicdesk.performance import selectors
    from civicdesk.performance.models import DailyRollup, DurationCube, DurationRollup, RollupCube
    from civicdesk.performance.rollups import rollups_as_of
    from civicdesk.servicerequests.models import ServiceRequest

    if seed:
        from civicdesk.ops.demo import demo_city_load
        from civicdesk.ops.seed import requests_seed
        from civicdesk.performance.rollups import rollups_rebuild

        call_command("migrate", verbosity=0)
        demo_city_load()
        print(f"seeding {args.requests:,} requests", flush=True)
        requests_seed(count=args.requests)
        rollups_rebuild()
        if connection.vendor == "postgresql":
            # A COPY bulk load leaves no planner statistics until autovacuum comes round.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE)")

    requests = ServiceRequest.objects.count()
    if rollups_as_of() is None:
        sys.exit("the rollups have never been built: run rollups_rebuild() first")
    today = timezone.localdate()
    busiest = (
        DailyRollup.objects.values_list("service_id")
        .annotate(n=Sum("received"))
        .order_by("-n")
        .first()
    )
    service_id, service_code = busiest[0], None
    if service_id is not None:
        from civicdesk.catalog.models import Service

        service_code = Service.objects.get(pk=service_id).service_code
    load_before = os.getloadavg()
    scenarios: dict[str, Any] = {}
    for period in ("last_12_months", "last_30_days"):
        start, end = preset_dates(period, today)
        for narrowed in (False, True):
            filters = selectors.Filters(
                start=start, end=end, service_ids=(service_id,) if narrowed else ()
            )
            name = f"{period}" + (f", service {service_code}" if narrowed else ", all services")
            # As the pages do: the open past-due requests read once, shared by every figure.
            reads = _reads(selectors, filters, selectors.open_past_due())
            timings = {label: _median_ms(fn, args.runs) for label, fn in reads.items()}
            print(f"{name}:", flush=True)
            for label, ms in timings.items():
                print(f"  {label:28} {ms:8.1f} ms")
            scenarios[name] = timings

    pages: dict[str, Any] = {}
    public = Client(HTTP_HOST="127.0.0.1")
    staff = Client(HTTP_HOST="127.0.0.1")
    analyst = User.objects.filter(role=Role.ANALYST, is_active=True).first()
    if analyst is not None:
        staff.force_login(analyst)
    district = selectors.districts().values_list("code", flat=True).first()
    pages_wanted = [
        ("last 12 months (the default)", ""),
        ("last 12 months, by week", "?grain=week"),
        ("last 30 days", "?period=last_30_days&grain=week"),
        (f"last 12 months, service {service_code}", f"?service={service_code}"),
        ("this year, by quarter, phone", "?period=this_year&grain=quarter&channel=phone"),
    ]
    if district is not None:  # two filters: breakdowns need three dimensions
        pages_wanted.append(
            (f"last 12 months, phone, district {district}", f"?channel=phone&district={district}")
        )
    for label, query in pages_wanted:
        for page_name, client, path in (
            ("public", public, "/performance/"),
            ("staff", staff, "/staff/performance/"),
        ):
            if page_name == "staff" and analyst is None:
                continue
            response = client.get(path + query)
            assert response.status_code == 200, (path + query, response.status_code)
            ms = _median_ms(lambda c=client, u=path + query: c.get(u), args.runs)
            pages[f"{page_name}: {label}"] = {
                "ms": ms,
                "result": "PASS" if ms < TARGET_MS else "MISS",
            }
            print(f"  page {page_name}: {label:40} {ms:8.1f} ms", flush=True)

    result = {
        "benchmark": "dashboard",
        "engine": connection.vendor,
        "requests": requests,
        "daily_rollup_rows": DailyRollup.objects.count(),
        "duration_rollup_rows": DurationRollup.objects.count(),
        "cube_rows": RollupCube.objects.count(),
        "duration_cube_rows": DurationCube.objects.count(),
        "runs": args.runs,
        "selectors_ms": scenarios,
        "pages_ms": pages,
        "target_ms": TARGET_MS,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dashboard-{connection.vendor}-{requests}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
