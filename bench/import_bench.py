"""Import N synthetic NYC-shaped rows into a fresh database; report rows per second for a
fresh import and for a re-import (every row unchanged), and peak memory.

    python bench/import_bench.py [--rows 1000000] [--database-url URL] [--keep-file]

The rows are the real New York sample's rows (shared/data/311/nyc_sample.csv) repeated with
new ids, written to a CSV file in a temporary directory, then imported with the ``nyc``
preset into a fresh installation (migrated, no demo city: as a city moving to civicdesk
would). Without --database-url a fresh SQLite file is used. With a PostgreSQL URL, that
database is dropped and created afresh (its name must start with civicdesk_bench).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

from benchdb import fresh_postgres

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "311" / "nyc_sample.csv"


def synthetic_file(sample: Path, rows: int, out: Path) -> int:
    """Write ``rows`` rows shaped like the sample (its rows in turn, each with a new id)."""
    with sample.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        template = list(reader)
    key = header.index("Unique Key")
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for i in range(rows):
            row = list(template[i % len(template)])
            row[key] = str(100_000_000 + i)
            writer.writerow(row)
    return out.stat().st_size


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """This process's CPU time: on a busy machine, rows per CPU-second says what an idle
    one would do (SQLite works inside this process; PostgreSQL's work is not counted)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--sample", default=str(SAMPLE))
    parser.add_argument("--keep-file", action="store_true", help="Leave the CSV file behind.")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="civicdesk-import-bench-"))
    if args.database_url:
        fresh_postgres(args.database_url)
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ["CIVICDESK_VAR_DIR"] = str(workdir)
    os.environ["DEBUG"] = "false"  # as in production: no query log
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    data = workdir / "nyc_synthetic.csv"
    started = time.perf_counter()
    size = synthetic_file(Path(args.sample), args.rows, data)
    os.sync()  # the file's own writing must not compete with the import's
    print(
        f"wrote {args.rows:,} rows ({size / 1e6:,.0f} MB) in {time.perf_counter() - started:.0f}s"
    )

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from civicdesk.performance.imports.mapping import preset_load
    from civicdesk.performance.imports.run import file_import
    from civicdesk.servicerequests.models import RequestEvent, ServiceRequest

    call_command("migrate", verbosity=0)
    rss_before = _rss_mb()
    mapping = preset_load("nyc")
    last = [time.perf_counter()]
    import_peak = [0.0]  # sampled after each chunk: the import alone, before the rollups
    import_cpu = [0.0]

    def progress(rows: int, done: float) -> None:
        import_peak[0] = max(import_peak[0], _rss_mb())
        import_cpu[0] = _cpu_seconds()
        now = time.perf_counter()
        if now - last[0] > 10:
            print(f"  {rows:,} rows ({done:.0%})", flush=True)
            last[0] = now

    cpu = _cpu_seconds()
    fresh = file_import(path=data, mapping=mapping, progress=progress)
    fresh_cpu = import_cpu[0] - cpu  # up to the last chunk: without the rollups
    fresh_peak = import_peak[0]
    rss_fresh = _rss_mb()
    print(
        f"fresh: {fresh.read:,} rows in {fresh.seconds:.1f}s ({fresh.rows_per_second:,.0f}/s), "
        f"rollups {fresh.rollup_seconds:.1f}s, peak {fresh_peak:.0f} MB "
        f"({rss_fresh:.0f} MB with the rollups)"
    )
    cpu = _cpu_seconds()
    again = file_import(path=data, mapping=mapping, progress=progress)
    again_cpu = import_cpu[0] - cpu
    print(
        f"re-import: {again.read:,} rows in {again.seconds:.1f}s ({again.rows_per_second:,.0f}/s)"
    )
    result = {
        "benchmark": "import",
        "engine": connection.vendor,
        "rows": args.rows,
        "file_mb": round(size / 1e6),
        "fresh": {
            "seconds": round(fresh.seconds, 1),
            "rows_per_second": round(fresh.rows_per_second),
            "created": fresh.created,
            "rejected": fresh.rejected,
            "rollup_seconds": round(fresh.rollup_seconds, 1),
            "process_cpu_seconds": round(fresh_cpu, 1),
            "rows_per_cpu_second": round(fresh.read / max(fresh_cpu, 1e-9)),
        },
        "reimport": {
            "seconds": round(again.seconds, 1),
            "rows_per_second": round(again.rows_per_second),
            "unchanged": again.unchanged,
            "created": again.created,
            "updated": again.updated,
            "process_cpu_seconds": round(again_cpu, 1),
            "rows_per_cpu_second": round(again.read / max(again_cpu, 1e-9)),
        },
        "peak_rss_mb_import": round(fresh_peak),
        "peak_rss_mb_with_rollups": round(_rss_mb()),
        "rss_before_import_mb": round(rss_before),
        "requests_in_database": ServiceRequest.objects.count(),
        "events_in_database": RequestEvent.objects.count(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"import-{connection.vendor}-{args.rows}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep_file:
        data.unlink()


if __name__ == "__main__":
    main()
