"""Back up, restore and drill a seeded database; report rows per second, MB per second and
each command's peak memory.

    python bench/backup_bench.py [--requests 100000] [--media-mb 200] [--database-url URL]

--media-mb adds that many 1 MB files of random bytes (photos do not compress) to MEDIA_ROOT.
Without --database-url, fresh SQLite files in a temporary directory are used. With a
PostgreSQL URL, that database and ``<name>_restore`` are dropped and created afresh (the name
must start with civicdesk_bench; never point it at real data). The database is seeded in this
process; `civicdesk backup`, `civicdesk restore` (into a second, freshly migrated database) and
`civicdesk restore --drill` run as child processes, so each one's peak memory is its own
(VmHWM, Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import fresh_postgres

RESULTS = Path(__file__).resolve().parent / "results"


# Runs `civicdesk ARGS` and prints its peak resident memory (VmHWM) at exit. VmHWM starts
# afresh at exec, unlike ru_maxrss, which a child inherits from this (large) process.
PEAK_WRAPPER = """
import atexit, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_KB", line.split()[1], file=sys.stderr)
atexit.register(peak)
sys.argv = ["civicdesk", *sys.argv[1:]]
from civicdesk.__main__ import main
main()
"""


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a civicdesk command; return its wall seconds, peak RSS in MB and output."""
    started = time.perf_counter()
    child = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-c", PEAK_WRAPPER, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.exit(f"civicdesk {' '.join(args)} failed:\n{child.stdout}")
    peak_kb = next(
        int(line.split()[1]) for line in child.stdout.splitlines() if line.startswith("PEAK_KB")
    )
    return seconds, peak_kb / 1024, child.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument(
        "--media-mb", type=int, default=200, help="Uploaded files to add, in 1 MB files."
    )
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="civicdesk-bench-"))
    if args.database_url:
        source_url = args.database_url
        restore_url = f"{args.database_url.rstrip('/')}_restore"
        fresh_postgres(source_url)
        fresh_postgres(restore_url)
    else:
        source_url = f"sqlite:///{workdir}/source.sqlite3"
        restore_url = f"sqlite:///{workdir}/restored.sqlite3"
    os.environ["DATABASE_URL"] = source_url
    os.environ["CIVICDESK_VAR_DIR"] = str(workdir)
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicdesk.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from civicdesk.ops.backup import keypair_create
    from civicdesk.ops.demo import demo_city_load
    from civicdesk.ops.seed import requests_seed

    call_command("migrate", verbosity=0)
    demo_city_load()
    print(f"seeding {args.requests:,} requests...", flush=True)
    requests_seed(count=args.requests)
    connection.close()
    media = workdir / "media" / "requests"
    media.mkdir(parents=True)
    for number in range(args.media_mb):
        # Random bytes: photos do not compress either.
        (media / f"photo-{number:05}.jpg").write_bytes(os.urandom(1 << 20))

    identity = workdir / "identity.txt"
    public = keypair_create(identity)
    env = {**os.environ, "CIVICDESK_BACKUP_RECIPIENTS": public}
    out = workdir / "backup.age"
    backup_s, backup_mb, printed = _run(["backup", str(out), "-v2"], env)
    rows = sum(
        int(line.split(":")[1].split()[0].replace(",", ""))
        for line in printed.splitlines()
        if line.startswith("  ") and "rows" in line
    )
    size_mb = out.stat().st_size / 1e6
    print(next(line for line in printed.splitlines() if "Backup written" in line), flush=True)

    restore_env = {**env, "DATABASE_URL": restore_url, "MEDIA_ROOT": str(workdir / "media2")}
    _run(["migrate", "-v0"], restore_env)
    restore_s, restore_mb, _ = _run(["restore", str(out), "--identity", str(identity)], restore_env)
    drill_s, drill_mb, _ = _run(["restore", str(out), "--identity", str(identity), "--drill"], env)

    result = {
        "benchmark": "backup",
        "engine": connection.vendor,
        "requests": args.requests,
        "rows": rows,
        "media_mb": args.media_mb,
        "backup_mb": round(size_mb, 1),
        "backup_seconds": round(backup_s, 1),
        "backup_rows_per_second": round(rows / backup_s),
        "backup_mb_per_second": round(size_mb / backup_s, 2),
        "backup_peak_rss_mb": round(backup_mb),
        "restore_seconds": round(restore_s, 1),
        "restore_rows_per_second": round(rows / restore_s),
        "restore_mb_per_second": round(size_mb / restore_s, 2),
        "restore_peak_rss_mb": round(restore_mb),
        "drill_seconds": round(drill_s, 1),
        "drill_peak_rss_mb": round(drill_mb),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"backup-{connection.vendor}-{args.requests}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
