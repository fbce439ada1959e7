"""Open data export benchmark: rows per second and memory of the export (the code path that
`civicdesk export requests` and the portal's downloads share) in CSV, JSON and GeoJSON, over
a database of N seeded requests.

    python bench/export_bench.py [--database-url URL] [--requests 1000000] [--reuse]
                                 [--formats csv,json,geojson] [--checkpoint 100000]

Without --database-url a SQLite file at <tmp>/civicdesk-export-bench/bench.sqlite3 is used.
With --reuse the database is used as it is if it already holds at least N requests;
otherwise, and always without --reuse, it is replaced by a fresh one (`civicdesk migrate`,
then `civicdesk seed --requests N`). A PostgreSQL database must be named civicdesk_bench*:
it is dropped and created afresh only when seeded.

Each format runs in a process of its own, so that its peak memory is its own. The process
exports every request (no filter), then the requests of three services, encoding the chunks
to UTF-8 as the web response does and discarding them. Every --checkpoint rows it notes the
time and its resident memory (RSS, and the process's own part of it, without mapped file
pages), to show that memory stays flat as rows go by. Reported per run: rows, seconds, rows
per second (wall clock), rows per CPU second of the exporting process, MB written, memory
at each checkpoint, peak RSS, the CPU seconds of the PostgreSQL backend, and the share of
the machine's CPU that other work took meanwhile (figures taken while other work took more
than ~10% are not representative of an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The Open311 benchmark's database handling (name guard, reuse count, fresh database) and
# its /proc readings, shared rather than copied.
from open311_bench import (
    _count_existing,
    _database_pids,
    _fresh,
    _pg_name,
    _proc_cpu,
    _sqlite_path,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SQLITE = Path(tempfile.gettempdir()) / "civicdesk-export-bench" / "bench.sqlite3"
CIVICDESK = str(ROOT / ".venv" / "bin" / "civicdesk")
SCENARIOS: dict[str, dict[str, Any]] = {
    "all": {},
    "three services": {"services": ["pothole", "missed-pickup", "graffiti"]},
}


# --- The parent: prepare the database, run one child per format, report ----------------------


def prepare(url: str, requests: int, reuse: bool, env: dict[str, str]) -> dict[str, Any]:
    existing = _count_existing(url)
    if reuse and existing >= requests:
        return {"reused": True, "in_database": existing, "seed_seconds": None}
    if reuse:
        print(f"  --reuse: the database holds {existing:,} requests; seeding a fresh one")
    _fresh(url)
    started = time.perf_counter()
    subprocess.run([CIVICDESK, "migrate", "-v0"], env=env, check=True)  # noqa: S603
    print(f"  seeding {requests:,} requests (civicdesk seed) ...", flush=True)
    seed = [CIVICDESK, "seed", "--requests", str(requests)]
    subprocess.run(seed, env=env, check=True)  # noqa: S603
    seconds = round(time.perf_counter() - started, 1)
    return {"reused": False, "in_database": _count_existing(url), "seed_seconds": seconds}


def _machine_busy() -> float:
    """CPU seconds all cores have spent on anything but idling and waiting, since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_child(fmt: str, args: argparse.Namespace, env: dict[str, str]) -> list[dict[str, Any]]:
    url = args.database_url
    database = None if url.startswith("sqlite") else _pg_name(url)
    command = [sys.executable, __file__, "--child", fmt, "--checkpoint", str(args.checkpoint)]
    busy, started = _machine_busy(), time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)  # noqa: S603
    backend_cpu: dict[str, float] = {}
    while child.poll() is None:  # the backend's CPU, read while it lives
        for pid in _database_pids(database) if database else []:
            backend_cpu[pid] = max(backend_cpu.get(pid, 0.0), _proc_cpu(pid))
        time.sleep(0.5)
    out, _ = child.communicate()
    if child.returncode:
        sys.exit(f"the {fmt} export failed (exit {child.returncode})")
    runs: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    wall = time.perf_counter() - started
    backend = sum(backend_cpu.values())
    ours = sum(run["cpu_seconds"] for run in runs) + backend
    other = max(0.0, _machine_busy() - busy - ours) / (wall * (os.cpu_count() or 1))
    for run in runs:
        run["other_work_pct"] = round(100 * other)
        if database:
            run["postgres_backend_cpu_seconds_both_scenarios"] = round(backend, 1)
    return runs


def _line(run: dict[str, Any]) -> str:
    first, last = run["checkpoints"][0], run["checkpoints"][-1]
    return (
        f"  {run['format']:8} {run['scenario']:15} {run['rows']:>9,} rows"
        f" in {run['seconds']:6.1f} s = {run['rows_per_second']:>7,} rows/s"
        f" ({run['rows_per_cpu_second']:,} per CPU s), {run['megabytes']:,} MB;"
        f" RSS (own) {first['rss_mb']} ({first['anon_mb']}) MB at {first['rows']:,} rows,"
        f" {last['rss_mb']} ({last['anon_mb']}) MB at {last['rows']:,};"
        f" peak RSS {run['peak_rss_mb']} MB; other work {run['other_work_pct']}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="", help="default: a SQLite file in tmp")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="use an already seeded database")
    parser.add_argument("--formats", default="csv,json,geojson")
    parser.add_argument("--checkpoint", type=int, default=100_000, help="rows between RSS notes")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.checkpoint)
        return
    if args.requests < 1 or args.checkpoint < 1:
        parser.error("--requests and --checkpoint must be positive")
    url = args.database_url = args.database_url or f"sqlite:///{DEFAULT_SQLITE}"
    if url.startswith("sqlite"):
        var_dir = _sqlite_path(url).parent
        var_dir.mkdir(parents=True, exist_ok=True)
        shown = url
    elif url.startswith(("postgres://", "postgresql://")):
        var_dir = Path(tempfile.mkdtemp(prefix="civicdesk-export-bench-"))
        shown = f"postgres://{urlsplit(url).hostname}/{_pg_name(url)}"
    else:
        parser.error("--database-url must be sqlite:///... or postgres://...")
    env = dict(
        os.environ,
        DATABASE_URL=url,
        CIVICDESK_VAR_DIR=str(var_dir),
        DEBUG="false",  # no query log
        DJANGO_SETTINGS_MODULE="civicdesk.settings",
    )
    print(f"Export benchmark on {shown}")
    database = prepare(url, args.requests, args.reuse, env)
    print(f"  {database['in_database']:,} requests in the database", flush=True)

    runs = []
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        for run in run_child(fmt, args, env):
            runs.append(run)
            print(_line(run), flush=True)
    result = {
        "benchmark": "export",
        "engine": "sqlite" if url.startswith("sqlite") else "postgresql",
        "database": shown,
        **database,
        "runs": runs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "load_average_after": os.getloadavg(),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"export-{result['engine']}-{args.requests}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  results in {out.relative_to(ROOT)}")


# --- The child: one format, timed and watched ------------------------------------------------


def _memory() -> dict[str, int]:
    """Resident memory in MB: all of it (``rss_mb``), and the process's own (``anon_mb``:
    heap and stacks). The rest is file pages mapped in, on SQLite the database file itself
    (read through mmap, up to its ``mmap_size``): the operating system's page cache, shared
    and dropped under pressure, not memory the export holds on to."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = round(int(value.split()[0]) / 1024)
    return {"rss_mb": fields.get("VmRSS", 0), "anon_mb": fields.get("RssAnon", 0)}


def child_main(fmt: str, checkpoint: int) -> None:
    import django

    django.setup()
    print(json.dumps([_export(fmt, scenario, checkpoint) for scenario in SCENARIOS]))


def _export(fmt: str, scenario: str, checkpoint: int) -> dict[str, Any]:
    from civicdesk.performance.opendata import FORMATS, export_filter_parse, request_export_pages

    export_filter = export_filter_parse(**SCENARIOS[scenario])
    marks: list[dict[str, Any]] = []
    rows = 0
    before = _memory()
    cpu, started = time.process_time(), time.perf_counter()

    def watched(pages: Iterable[list[Any]]) -> Iterator[list[Any]]:
        nonlocal rows
        for page in pages:
            if rows // checkpoint < (rows + len(page)) // checkpoint:
                elapsed = round(time.perf_counter() - started, 1)
                marks.append({"rows": rows + len(page), "seconds": elapsed, **_memory()})
            rows += len(page)
            yield page

    written = 0
    for chunk in FORMATS[fmt].chunks(watched(request_export_pages(export_filter))):
        written += len(chunk.encode())  # as the streamed response does
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu
    if not marks or marks[-1]["rows"] != rows:
        marks.append({"rows": rows, "seconds": round(seconds, 1), **_memory()})
    return {
        "format": fmt,
        "scenario": scenario,
        "rows": rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(rows / seconds),
        "cpu_seconds": round(cpu_seconds, 1),
        "rows_per_cpu_second": round(rows / max(cpu_seconds, 1e-9)),
        "megabytes": round(written / 1e6),
        "memory_before_export": before,
        "checkpoints": marks,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    main()
