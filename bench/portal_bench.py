"""Server time of resident-portal pages with the demo city loaded (5,000 requests).

    python bench/portal_bench.py [--database-url URL] [--iterations 200]

Pages are rendered in-process through Django's full request stack (middleware, sessions,
templates, queries), so the figure is the server's own time, without network or browser.
Target (issue 4): under 100 ms for the portal home and a tracking page.
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
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_MS = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    if args.iterations < 10:
        parser.error("--iterations must be at least 10")

    workdir = tempfile.mkdtemp(prefix="civicdesk-portal-bench-")
    if args.database_url:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from seed_bench import _fresh_postgres

        _fresh_postgres(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/portal.sqlite3"
    os.environ["CIVICDESK_VAR_DIR"] = workdir
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from civicdesk.ops.demo import demo_city_load
    from civicdesk.ops.seed import requests_seed
    from civicdesk.servicerequests.models import ServiceRequest

    call_command("migrate", verbosity=0)
    demo_city_load()
    requests_seed(count=5000)
    tracked = (
        ServiceRequest.objects.filter(closed_at__isnull=False)
        .order_by("-requested_at")
        .values_list("public_id", flat=True)
        .first()
    )
    pages = {
        "portal home": "/",
        "home with a search": "/?q=pothole",
        "report form (pothole)": "/services/pothole/",
        f"tracking page ({tracked})": f"/requests/{tracked}/",
        "recent requests": "/requests/",
    }
    client = Client(HTTP_HOST="127.0.0.1")
    results = {}
    for name, path in pages.items():
        for _ in range(10):  # warm caches and connections
            assert client.get(path).status_code == 200, path
        timings = []
        for _ in range(args.iterations):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        timings.sort()
        results[name] = {
            "path": path,
            "p50_ms": round(statistics.median(timings), 1),
            "p90_ms": round(timings[int(len(timings) * 0.9)], 1),
            "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 1),
            "bytes": len(response.content),
        }
    print(f"{'page':40} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  target")
    for name, r in results.items():
        verdict = "PASS" if r["p50_ms"] < TARGET_MS else "MISS"
        print(f"{name:40} {r['p50_ms']:8} {r['p90_ms']:8} {r['p99_ms']:8}  {verdict}")
    summary = {
        "benchmark": "portal pages",
        "engine": connection.vendor,
        "requests_in_database": ServiceRequest.objects.count(),
        "iterations": args.iterations,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "pages": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"portal-{connection.vendor}.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
