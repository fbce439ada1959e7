"""Seed N synthetic requests into a fresh database; report rows per second and peak memory.

    python bench/seed_bench.py [--requests 1000000] [--database-url URL]

Without --database-url a fresh SQLite file in a temporary directory is used. With a
PostgreSQL URL, that database is dropped and created afresh (never point it at real data).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from benchdb import fresh_postgres

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    workdir = tempfile.mkdtemp(prefix="civicdesk-bench-")
    if args.database_url:
        fresh_postgres(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["CIVICDESK_VAR_DIR"] = workdir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from civicdesk.ops.demo import demo_city_load
    from civicdesk.ops.seed import requests_seed
    from civicdesk.servicerequests.models import ServiceRequest

    call_command("migrate", verbosity=0)
    demo_city_load()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    last = [started]

    def progress(done: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 10 or done == args.requests:
            print(f"  {done:,} requests, {done / (now - started):,.0f}/s", flush=True)
            last[0] = now

    stats = requests_seed(count=args.requests, progress=progress)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = stats.requests + stats.events + 2 * stats.contacts  # contacts and their follower rows
    result = {
        "benchmark": "seed",
        "engine": connection.vendor,
        "requests": stats.requests,
        "events": stats.events,
        "contacts": stats.contacts,
        "all_rows": rows,
        "seconds": round(seconds, 1),
        "requests_per_second": round(stats.requests / seconds),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(peak_mb),
        "rss_before_seed_mb": round(rss_before / 1024),
        "in_database": ServiceRequest.objects.count(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"seed-{connection.vendor}-{args.requests}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
