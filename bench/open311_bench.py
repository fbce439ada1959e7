"""Open311 GeoReport v2 read benchmark: throughput and latency of GET requests against a
database of N seeded requests, served by gunicorn, under a few concurrent clients.

    python bench/open311_bench.py [--database-url URL] [--requests 1000000] [--reuse]
                                  [--clients 4] [--duration 20] [--workers 2]

Without --database-url a SQLite file at <tmp>/civicdesk-open311-bench/bench.sqlite3 is used.
With --reuse the database is used as it is (after ``migrate``) if it already holds at least N
requests; otherwise, and always without --reuse, it is replaced by a fresh one seeded the way
seed_bench.py does (migrate, demo_city_load, requests_seed). A PostgreSQL database must be
named civicdesk_bench*: it is dropped and created afresh when (re)seeded.

Scenarios, each in JSON and XML, each run for --duration seconds after a warm-up by --clients
threads on keep-alive http.client connections:

    default   GET requests.{fmt}                                  (1,000 records, last 90 days)
    filtered  GET requests.{fmt}?service_code=S&status=open&start_date=..&end_date=..  (90 days)
    page100   GET requests.{fmt}?page_size=100&page=K             (K uniform over all pages)
    single    GET requests/{id}.{fmt}                             (random existing ids)

Any non-200 answer, or a body with the wrong number of records, counts as an error. Each
scenario is PASS or MISS against the issue's p50 targets (300 ms for up to 1,000 records,
50 ms for a page of 100 or a single request).

The clients share the machine with the server, and so may other work: before each scenario
the benchmark waits (--quiet-wait) for the machine to be idle, measures the CPU taken per
request by gunicorn and by the PostgreSQL backends (with their parallel workers), and the
share of the machine other processes took meanwhile; a scenario with more than 10% is marked
noisy and run again (--retry-noisy). PostgreSQL gets VACUUM (ANALYZE) first (--analyze).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_SQLITE = Path(tempfile.gettempdir()) / "civicdesk-open311-bench" / "bench.sqlite3"
HOST = "127.0.0.1"
API = "/open311/v2"
# Targets from the issue, on p50 latency, one 2-core machine.
TARGET_FULL_MS = 300.0  # a full response of up to 1,000 records
TARGET_SMALL_MS = 50.0  # a page of 100, a single request
ID_SAMPLE = 5000
PARALLEL_WORKERS = 2  # PostgreSQL's default max_parallel_workers_per_gather
NOISY_PCT = 10  # other work above this share of the machine's CPU marks a scenario noisy


# --- Database: reuse or seed ---------------------------------------------------------------


def _pg_name(url: str) -> str:
    name = unquote(urlsplit(url).path.lstrip("/"))
    if not name.startswith("civicdesk_bench"):
        sys.exit(f"refusing to use database {name!r}: its name must start with civicdesk_bench")
    return name


def _sqlite_path(url: str) -> Path:
    # sqlite:////abs/path (dj-database-url's spelling); sqlite:///rel/path is relative.
    path = url.split("://", 1)[1]
    path = path[1:] if path.startswith("/") else path
    return Path(path).resolve()


def _count_existing(url: str) -> int:
    """Requests already in the database; 0 when the database or the table is missing."""
    table = "SELECT count(*) FROM servicerequests_servicerequest"
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if not path.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                return int(conn.execute(table).fetchone()[0])
        except sqlite3.Error:
            return 0
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            return int(conn.execute(table).fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return 0


def _fresh(url: str) -> None:
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        if path.exists() and "bench" not in path.name:
            sys.exit(f"refusing to replace {path}: a benchmark file's name must contain 'bench'")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg

    parts = urlsplit(url)
    name = _pg_name(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _statistics(mode: str, connection: Any) -> str:
    """Planner statistics. A bulk load (COPY) leaves PostgreSQL without any until autovacuum
    gets to the tables, and never any where autovacuum is off; a real deployment has them,
    so by default PostgreSQL gets VACUUM (ANALYZE), what autovacuum would do. SQLite has none
    unless someone runs ANALYZE, and a deployment does not, so by default it stays as found."""
    engine = connection.vendor
    if mode == "no" or (mode == "auto" and engine != "postgresql"):
        return "as found"
    started = time.perf_counter()
    print(f"  {'VACUUM (ANALYZE)' if engine == 'postgresql' else 'ANALYZE'} ...", flush=True)
    if engine == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        autocommit = raw.autocommit
        raw.autocommit = True  # VACUUM cannot run inside a transaction
        try:
            with raw.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE)")
        finally:
            raw.autocommit = autocommit
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    seconds = time.perf_counter() - started
    print(f"  statistics done in {seconds:.0f} s", flush=True)
    return (
        "VACUUM (ANALYZE) by the benchmark"
        if engine == "postgresql"
        else "ANALYZE by the benchmark"
    )


@dataclass
class Inputs:
    engine: str
    in_database: int
    reused: bool
    seed_seconds: float | None
    analyzed: str
    ids: list[str]
    service_code: str
    service_total: int
    filter_start: str
    filter_end: str
    filter_expected: int
    default_total: int
    pages_of_100: int


def prepare(args: argparse.Namespace, url: str, var_dir: Path) -> Inputs:
    """Migrate (and seed when needed) in this process, then read what the scenarios need."""
    existing = _count_existing(url)
    reused = args.reuse and existing >= args.requests
    if args.reuse and not reused:
        print(
            f"  --reuse: the database holds {existing:,} requests, fewer than "
            f"{args.requests:,}; seeding a fresh one"
        )
    if not reused:
        _fresh(url)
    os.environ["DATABASE_URL"] = url
    os.environ["CIVICDESK_VAR_DIR"] = str(var_dir)
    os.environ["DEBUG"] = "false"  # no query log while seeding a million rows
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from civicdesk.catalog.models import Service
    from civicdesk.servicerequests.models import ServiceRequest
    from civicdesk.servicerequests.statuses import OPEN_STATUSES

    started = time.perf_counter()
    print("  migrate ...", flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    print(f"  migrate done in {time.perf_counter() - started:.0f} s", flush=True)
    seed_seconds = None
    if not reused:
        from civicdesk.ops.demo import demo_city_load
        from civicdesk.ops.seed import requests_seed

        demo_city_load()
        started = time.perf_counter()
        last = [started]

        def progress(done: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 10 or done == args.requests:
                print(f"  seeded {done:,} requests, {done / (now - started):,.0f}/s", flush=True)
                last[0] = now

        requests_seed(count=args.requests, progress=progress)
        seed_seconds = round(time.perf_counter() - started, 1)

    analyzed = _statistics(args.analyze, connection)
    in_database = ServiceRequest.objects.count()
    # A random sample of existing ids, drawn by primary key (no ORDER BY random() on 1M rows).
    bounds = ServiceRequest.objects.aggregate(lo=Min("id"), hi=Max("id"))
    rng = random.Random(311)
    wanted = {rng.randint(bounds["lo"], bounds["hi"]) for _ in range(ID_SAMPLE)}
    ids: list[str] = []
    chunk = sorted(wanted)
    for i in range(0, len(chunk), 500):
        ids += ServiceRequest.objects.filter(id__in=chunk[i : i + 500]).values_list(
            "public_id", flat=True
        )
    rng.shuffle(ids)

    code = args.service_code
    if not Service.objects.filter(service_code=code, active=True).exists():
        top = (
            ServiceRequest.objects.values("service__service_code")
            .order_by()
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("service__service_code", flat=True)
        )
        code = next(iter(top))
    service_total = ServiceRequest.objects.filter(service__service_code=code).count()
    # The latest 90 days of that service's requests (where its open requests are).
    latest = ServiceRequest.objects.filter(service__service_code=code).aggregate(
        m=Max("requested_at")
    )
    end = (latest["m"] or timezone.now()).astimezone(dt.UTC).replace(
        minute=0, second=0, microsecond=0
    ) + dt.timedelta(hours=1)
    start = end - dt.timedelta(days=90)
    expected = ServiceRequest.objects.filter(
        service__service_code=code,
        status__in=sorted(OPEN_STATUSES),
        requested_at__gte=start,
        requested_at__lte=end,
    ).count()
    default_total = ServiceRequest.objects.filter(
        requested_at__gte=timezone.now() - dt.timedelta(days=90)
    ).count()
    engine = connection.vendor
    connections.close_all()
    return Inputs(
        engine=engine,
        in_database=in_database,
        reused=reused,
        seed_seconds=seed_seconds,
        analyzed=analyzed,
        ids=ids,
        service_code=code,
        service_total=service_total,
        filter_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        filter_end=end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        filter_expected=expected,
        default_total=default_total,
        # Leave the last page out: the default window slides while the benchmark runs.
        pages_of_100=max(1, default_total // 100 - 1),
    )


# --- gunicorn --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _gunicorn_bin() -> str:
    for candidate in (Path(sys.prefix) / "bin" / "gunicorn", ROOT / ".venv" / "bin" / "gunicorn"):
        if candidate.exists():
            return str(candidate)
    sys.exit("gunicorn not found: install it into the virtualenv")


class Server:
    def __init__(self, url: str, var_dir: Path, workers: int, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        env = dict(os.environ)
        env.update(
            DATABASE_URL=url,
            CIVICDESK_VAR_DIR=str(var_dir),
            CIVICDESK_ENV="development",
            DEBUG="false",
            ALLOWED_HOSTS=HOST,
            DJANGO_SETTINGS_MODULE="civicdesk.settings",
            LOG_LEVEL="WARNING",
        )
        self.cmd = [
            _gunicorn_bin(),
            "civicdesk.wsgi",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            "--log-level",
            "warning",
            "--error-logfile",
            str(log),
        ]
        # Own session: a Ctrl-C in the terminal reaches this script, which stops gunicorn.
        self.proc = subprocess.Popen(  # noqa: S603
            self.cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 200:
                    return
                last = f"{response.status} {body[:200]!r}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise RuntimeError(
            f"gunicorn not healthy after {timeout:.0f} s ({last}):\n{self.log_tail()}"
        )

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_cpu(pid: int | str) -> float:
    """User + system CPU seconds of one process (Linux /proc), 0 where unknown."""
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if len(fields) > 12 else 0.0


def _reaped_cpu(pid: int | str) -> float:
    """CPU seconds of the children a process has waited for (cutime + cstime): for the
    PostgreSQL postmaster, the parallel query workers (and backends) that have ended."""
    fields = _proc_stat(pid)
    return (int(fields[13]) + int(fields[14])) / _TICK if len(fields) > 14 else 0.0


def _database_pids(name: str) -> list[str]:
    """The backends of our PostgreSQL database (their process title names it); other
    databases on the same server are left out."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {name} " in title:
                pids.append(entry.name)
    return pids


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, summed over its cores."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + values[4]
    return (sum(values) - idle) / _TICK, sum(values) / _TICK


@dataclass
class CpuMeter:
    """CPU used during a window by gunicorn, this process (the clients), the database
    server and everything else on the machine (other work skews the latencies)."""

    server: Server
    database: str  # PostgreSQL database name, "" for SQLite (it runs inside gunicorn)
    start: dict[str, Any] = field(default_factory=dict)

    def _read(self) -> dict[str, Any]:
        busy, total = _machine_cpu()
        backends = _database_pids(self.database) if self.database else []
        postmaster = _proc_stat(backends[0])[1] if backends else ""
        groups = {
            "server": [str(p) for p in self.server.pids()],
            "client": [str(os.getpid())],
            "database": backends,
        }
        return {
            "busy": busy,
            "total": total,
            # Parallel query workers end within the window; their CPU lands here.
            "reaped": _reaped_cpu(postmaster) if postmaster else 0.0,
            **{k: {pid: _proc_cpu(pid) for pid in pids} for k, pids in groups.items()},
        }

    def begin(self) -> None:
        self.start = self._read()

    def end(self) -> dict[str, float]:
        now = self._read()
        delta = {k: now[k] - self.start[k] for k in ("busy", "total")}
        for group in ("server", "client", "database"):
            before = self.start[group]
            delta[group] = sum(
                max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in now[group].items()
            )
        # Ended processes of the server: our parallel workers (at most PARALLEL_WORKERS per
        # query, each doing about the leader's share), but on a shared server also other
        # sessions that ended; anything beyond what our queries can explain is other work.
        reaped = max(0.0, now["reaped"] - self.start["reaped"])
        delta["database"] += min(reaped, PARALLEL_WORKERS * delta["database"])
        delta["other"] = max(
            0.0, delta["busy"] - delta["server"] - delta["client"] - delta["database"]
        )
        return delta


def wait_quiet(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to max_wait s) until the machine is below threshold busy over 2 s, while
    our server is idle; return the last busy share seen."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, total0 = _machine_cpu()
        time.sleep(2)
        busy1, total1 = _machine_cpu()
        share = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
        if share < threshold or time.monotonic() >= deadline:
            return share
        print(f"    machine {share:.0%} busy with other work; waiting", flush=True)


# --- Load --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    fmt: str
    target_ms: float
    paths: Any  # callable(rng) -> (path, expected records or None to use the paging headers)
    example: str = ""


@dataclass
class Sample:
    started: float
    seconds: float
    size: int
    error: str | None


@dataclass
class ClientState:
    samples: list[Sample] = field(default_factory=list)


def _records(body: bytes, fmt: str) -> int:
    # Cheap enough for the client not to compete with the server for the two cores.
    if fmt == "json":
        return body.count(b'"service_request_id":')
    return body.count(b"<request>")


def _expected_from_headers(response: http.client.HTTPResponse, page_size: int) -> int:
    total = int(response.getheader("X-Total-Count") or 0)
    page = int(response.getheader("X-Page") or 1)
    return max(0, min(page_size, total - (page - 1) * page_size))


def _one(
    conn: http.client.HTTPConnection, path: str, fmt: str, expect: int | None, page_size: int
) -> tuple[int, str | None]:
    conn.request("GET", path, headers={"Accept-Encoding": "identity"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        return len(body), f"HTTP {response.status}"
    want = expect if expect is not None else _expected_from_headers(response, page_size)
    got = _records(body, fmt)
    if got != want:
        return len(body), f"{got} records, expected {want}"
    return len(body), None


def _client(
    port: int,
    scenario: Scenario,
    seed: int,
    measure_from: float,
    until: float,
    state: ClientState,
    page_size: int,
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    while True:
        t0 = time.perf_counter()
        if t0 >= until:
            break
        path, expect = scenario.paths(rng)
        size, error = 0, None
        try:
            size, error = _one(conn, path, scenario.fmt, expect, page_size)
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=120)
        t1 = time.perf_counter()
        if t0 >= measure_from:
            state.samples.append(Sample(t0, t1 - t0, size, error))
    conn.close()


def _pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def check(port: int, scenario: Scenario) -> None:
    """One request parsed in full: the body is well-formed and has the records it should."""
    path, expect = scenario.paths(random.Random(0))
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
    if scenario.fmt == "json":
        records = len(json.loads(body))
    else:
        root = ET.fromstring(body)  # noqa: S314 (our own server's answer)
        records = len(root.findall("request"))
    want = expect if expect is not None else _expected_from_headers(response, 100)
    if records != want or records != _records(body, scenario.fmt):
        raise RuntimeError(f"{path}: {records} records, expected {want}")


def run(
    port: int,
    scenario: Scenario,
    clients: int,
    duration: float,
    warmup: float,
    server: Server,
    page_size: int,
    meter: CpuMeter,
) -> dict[str, Any]:
    check(port, scenario)
    begin = time.perf_counter()
    measure_from = begin + warmup
    until = measure_from + duration
    states = [ClientState() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=_client,
            args=(port, scenario, 1000 * i + 7, measure_from, until, states[i], page_size),
            daemon=True,
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    # CPU over the measured window only.
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    meter.begin()
    for t in threads:
        t.join()
    cpu = meter.end()
    samples = [s for st in states for s in st.samples]
    ended = max((s.started + s.seconds for s in samples), default=until)
    wall = ended - measure_from
    latencies = sorted(s.seconds * 1000 for s in samples)
    errors = Counter(s.error for s in samples if s.error)
    sizes = sorted(s.size for s in samples if not s.error)
    p50 = _pct(latencies, 50)

    def per_request(seconds: float) -> float | None:
        return round(seconds * 1000 / len(samples), 1) if samples and seconds > 0 else None

    def share(seconds: float) -> int | None:
        return round(100 * seconds / cpu["total"]) if cpu["total"] > 0 else None

    return {
        "scenario": scenario.name,
        "format": scenario.fmt,
        "example": scenario.example,
        "requests": len(samples),
        "seconds": round(wall, 2),
        "requests_per_second": round(len(samples) / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(p50, 1),
        "p90_ms": round(_pct(latencies, 90), 1),
        "p99_ms": round(_pct(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1) if latencies else math.nan,
        "mean_ms": round(sum(latencies) / len(latencies), 1) if latencies else math.nan,
        "response_bytes_p50": int(_pct([float(v) for v in sizes], 50)) if sizes else 0,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        # CPU ms per request: gunicorn (Django + SQLite), the database server, the clients.
        "server_cpu_ms_per_request": per_request(cpu["server"]),
        "database_cpu_ms_per_request": per_request(cpu["database"]),
        "client_cpu_ms_per_request": per_request(cpu["client"]),
        # Shares of the machine's CPU capacity (all cores) during the measured window.
        "machine_busy_pct": share(cpu["busy"]),
        "other_work_pct": share(cpu["other"]),
        "target_p50_ms": scenario.target_ms,
        "pass": bool(p50 < scenario.target_ms) and not errors,
        # Other work took a sizeable share of the cores: the latencies are inflated.
        "noisy": (share(cpu["other"]) or 0) > NOISY_PCT,
    }


def scenarios(inputs: Inputs) -> list[Scenario]:
    out = []
    ids = inputs.ids
    pages = inputs.pages_of_100
    filters = {
        "service_code": inputs.service_code,
        "status": "open",
        "start_date": inputs.filter_start,
        "end_date": inputs.filter_end,
    }
    filtered_expect = min(1000, inputs.filter_expected)
    for fmt in ("json", "xml"):
        base = f"{API}/requests.{fmt}"
        filtered = f"{base}?{urlencode(filters)}"
        out += [
            Scenario("default", fmt, TARGET_FULL_MS, lambda rng, b=base: (b, 1000), base),
            Scenario(
                "filtered",
                fmt,
                TARGET_FULL_MS,
                lambda rng, f=filtered: (f, filtered_expect),
                filtered,
            ),
            Scenario(
                "page100",
                fmt,
                TARGET_SMALL_MS,
                lambda rng, b=base: (f"{b}?page_size=100&page={rng.randint(1, pages)}", 100),
                f"{base}?page_size=100&page=K (K in 1..{pages})",
            ),
            Scenario(
                "single",
                fmt,
                TARGET_SMALL_MS,
                lambda rng, f=fmt: (f"{API}/requests/{rng.choice(ids)}.{f}", 1),
                f"{API}/requests/{{id}}.{fmt} ({len(ids)} ids)",
            ),
        ]
    return out


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<10}{'fmt':<5}{'req/s':>7}{'p50':>8}{'p90':>8}{'p99':>8}{'max':>8}"
        f"{'KB':>7}{'err':>5}{'app':>7}{'db':>6}{'other':>7}{'target':>8}  verdict"
    )
    lines = [head, "-" * len(head)]

    def ms(value: float | None) -> str:
        return f"{value:.1f}" if value is not None else "-"

    for r in rows:
        lines.append(
            f"{r['scenario']:<10}{r['format']:<5}{r['requests_per_second']:>7.1f}"
            f"{r['p50_ms']:>8.1f}{r['p90_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['max_ms']:>8.1f}"
            f"{r['response_bytes_p50'] / 1024:>7.1f}{r['errors']:>5}"
            f"{ms(r['server_cpu_ms_per_request']):>7}{ms(r['database_cpu_ms_per_request']):>6}"
            f"{r['other_work_pct'] if r['other_work_pct'] is not None else '-':>6}%"
            f"{r['target_p50_ms']:>8.0f}  {'PASS' if r['pass'] else 'MISS'}"
            f"{' (noisy)' if r['noisy'] else ''}"
        )
    lines.append(
        "latencies in ms, p50 compared with the target; app/db: CPU ms per request in gunicorn "
        "and in the PostgreSQL server; other: the machine's CPU taken by other work meanwhile "
        f"(noisy: above {NOISY_PCT}%)"
    )
    return "\n".join(lines)


def _git() -> dict[str, Any]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(  # noqa: S603 - git from PATH, fixed arguments
                ["git", *cmd],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in out("status", "--porcelain", "src").splitlines()]
    return {"commit": out("rev-parse", "HEAD"), "src_changed": changed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="", help="default: a SQLite file in tmp")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the database as it is if it holds at least --requests",
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    # 2 sync workers on 2 cores: a request is CPU-bound (Python, and SQLite in-process or a
    # PostgreSQL backend on the same cores), so more workers only time-slice the same cores,
    # costing CPU per request in switches and cache misses; the other clients wait in the
    # listen queue instead. Measured on 1M requests: 2 gave a better page-of-100 p50 and
    # throughput than 3, 4 and 6 on PostgreSQL and than 4 on SQLite.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument(
        "--analyze",
        choices=("auto", "yes", "no"),
        default="auto",
        help="planner statistics before measuring: auto = VACUUM (ANALYZE) on PostgreSQL "
        "(what autovacuum does in a deployment), none on SQLite",
    )
    parser.add_argument("--service-code", default="pothole", help="for the filtered scenario")
    parser.add_argument("--only", default="", help="comma-separated scenario names to run")
    parser.add_argument("--formats", default="json,xml")
    parser.add_argument(
        "--retry-noisy",
        type=int,
        default=1,
        help="run a scenario again this many times if other work disturbed it; keep the "
        "least disturbed run",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each scenario, wait up to this many seconds for other work to calm down",
    )
    args = parser.parse_args()
    if args.requests < 1 or args.clients < 1 or args.workers < 1 or args.duration <= 0:
        parser.error("--requests, --clients, --workers and --duration must be positive")

    url = args.database_url or f"sqlite:///{DEFAULT_SQLITE}"
    scratch: Path | None = None  # a media/var directory of our own, removed at the end
    if url.startswith("sqlite"):
        var_dir = _sqlite_path(url).parent
        var_dir.mkdir(parents=True, exist_ok=True)
    elif url.startswith(("postgres://", "postgresql://")):
        _pg_name(url)
        var_dir = scratch = Path(tempfile.mkdtemp(prefix="civicdesk-open311-bench-"))
    else:
        parser.error("--database-url must be sqlite:///... or postgres://...")

    shown = (
        url if url.startswith("sqlite") else f"postgres://{urlsplit(url).hostname}/{_pg_name(url)}"
    )
    print(f"database {shown}")
    inputs = prepare(args, url, var_dir)
    print(
        f"  {inputs.engine}: {inputs.in_database:,} requests "
        f"({'reused' if inputs.reused else 'seeded'}, statistics {inputs.analyzed})\n"
        f"  filtered: {inputs.service_code} open "
        f"{inputs.filter_start}..{inputs.filter_end} ({inputs.filter_expected:,} match); "
        f"default window {inputs.default_total:,} requests, {inputs.pages_of_100} pages of 100"
    )

    chosen = scenarios(inputs)
    if args.only:
        names = set(args.only.split(","))
        chosen = [s for s in chosen if s.name in names]
    formats = set(args.formats.split(","))
    chosen = [s for s in chosen if s.fmt in formats]

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    log = Path(tempfile.gettempdir()) / f"civicdesk-open311-bench-gunicorn-{os.getpid()}.log"
    server = Server(url, var_dir, args.workers, log)
    rows: list[dict[str, Any]] = []
    try:
        server.wait_ready()
        print(
            f"gunicorn on {HOST}:{server.port}, {args.workers} workers; "
            f"{args.clients} clients, {args.duration:g} s per scenario\n",
            flush=True,
        )
        meter = CpuMeter(server, _pg_name(url) if inputs.engine == "postgresql" else "")
        for scenario in chosen:
            row: dict[str, Any] = {}
            for attempt in range(1 + args.retry_noisy):
                if args.quiet_wait > 0:
                    wait_quiet(args.quiet_wait)
                again = run(
                    server.port,
                    scenario,
                    args.clients,
                    args.duration,
                    args.warmup,
                    server,
                    100,
                    meter,
                )
                again["attempt"] = attempt + 1
                print(
                    f"  {again['scenario']:<9}{again['format']:<5}"
                    f"{again['requests_per_second']:>7.1f}/s "
                    f"p50 {again['p50_ms']:.1f} ms  p99 {again['p99_ms']:.1f} ms  "
                    f"errors {again['errors']}  other work {again['other_work_pct']}%  "
                    f"{'PASS' if again['pass'] else 'MISS'}{' (noisy)' if again['noisy'] else ''}",
                    flush=True,
                )
                # Keep the attempt least disturbed by other work.
                if not row or (again["other_work_pct"] or 0) < (row["other_work_pct"] or 0):
                    row = again
                if not row["noisy"]:
                    break
            rows.append(row)
    finally:
        server.stop()
        if server.log_tail().strip():
            print(f"gunicorn log ({log}):\n{server.log_tail()}")
        else:
            log.unlink(missing_ok=True)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(_table(rows))
    import gunicorn

    result = {
        "benchmark": "open311",
        "engine": inputs.engine,
        "requests": args.requests,
        "in_database": inputs.in_database,
        "reused": inputs.reused,
        "statistics": inputs.analyzed,
        "seed_seconds": inputs.seed_seconds,
        "clients": args.clients,
        "workers": args.workers,
        "worker_class": "sync",
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "gunicorn": gunicorn.__version__,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "code": _git(),
        "inputs": {
            "service_code": inputs.service_code,
            "filter_start": inputs.filter_start,
            "filter_end": inputs.filter_end,
            "filter_matches": inputs.filter_expected,
            "default_window_requests": inputs.default_total,
            "pages_of_100": inputs.pages_of_100,
            "sampled_ids": len(inputs.ids),
        },
        "targets_p50_ms": {
            "full_1000": TARGET_FULL_MS,
            "page_100": TARGET_SMALL_MS,
            "single": TARGET_SMALL_MS,
        },
        "scenarios": rows,
        "all_pass": all(r["pass"] for r in rows),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"open311-{inputs.engine}-{args.requests}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
