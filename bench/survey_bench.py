"""Survey analysis benchmark: `civicdesk survey analyze` (its pure function, without Django)
on synthetic responses: raking to several variables, then every item's estimate, standard
error and design effect, overall and by group.

    python bench/survey_bench.py [--responses 100000] [--raking-variables 6] [--items 40]
                                 [--strata 10] [--clusters 1000] [--seed 20261126]

The data are generated with a fixed seed: a stratified cluster sample (strata, clusters
with a population count each), a base weight, raking variables of 2 to 7 categories whose
response rates differ by category (so raking has work to do), half the items numeric and
half ratings (Excellent/Good/Fair/Poor/Don't know, some blank), and a --by group of 5.
Timed separately: reading and checking the files, raking, estimating, writing; the issue's
target is raking and all estimates of 100,000 responses, 6 raking variables and 40 items
in under 5 seconds. Peak memory is the maximum resident set size of the process that
analyses (the data are generated in a child process). Results go to
bench/results/survey-<responses>.json.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 5.0
RATINGS = np.array(["Excellent", "Good", "Fair", "Poor", "Don't know", ""])


def generate(args: argparse.Namespace, directory: Path) -> tuple[Path, Path, list[str]]:
    rng = np.random.default_rng(args.seed)
    n = args.responses
    columns: dict[str, np.ndarray] = {"id": np.arange(1, n + 1).astype(str)}
    stratum = rng.integers(0, args.strata, n)
    cluster = rng.integers(0, args.clusters // args.strata, n)
    columns["stratum"] = np.char.add("s", stratum.astype(str))
    columns["cluster"] = np.char.add("c", cluster.astype(str))
    columns["fpc"] = np.full(n, str(args.clusters // args.strata * 20))
    columns["base_weight"] = np.round(rng.uniform(0.5, 2.0, n), 4).astype(str)
    targets = ["variable,category,population"]
    population = 1_000_000
    for v in range(args.raking_variables):
        k = 2 + v % 6
        share = rng.dirichlet(np.full(k, 5.0))
        # Respondents over-represent the first categories: the targets pull them back.
        tilt = np.linspace(1.5, 0.6, k)
        sample_share = share * tilt / (share * tilt).sum()
        codes = rng.choice(k, n, p=sample_share)
        name = f"rv{v}"
        columns[name] = np.char.add("k", codes.astype(str))
        totals = np.round(share * population, 3)
        totals[-1] = population - totals[:-1].sum()
        targets += [f"{name},k{c},{totals[c]:.3f}" for c in range(k)]
    items = []
    for i in range(args.items):
        name = f"q{i}"
        items.append(name)
        if i % 2:
            values = np.round(rng.normal(50 + i, 10, n), 2).astype(str)
            values[rng.random(n) < 0.05] = ""
        else:
            p = rng.dirichlet(np.full(6, 3.0))
            values = RATINGS[rng.choice(6, n, p=p)]
        columns[name] = values
    columns["district"] = np.char.add("d", rng.integers(1, 6, n).astype(str))

    responses = directory / "responses.csv"
    names = list(columns)
    table = np.column_stack([columns[c] for c in names])
    with responses.open("w", encoding="utf-8") as f:
        f.write(",".join(names) + "\n")
        np.savetxt(f, table, fmt="%s", delimiter=",")
    target_file = directory / "targets.csv"
    target_file.write_text("\n".join(targets) + "\n", encoding="utf-8")
    return responses, target_file, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--raking-variables", type=int, default=6)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--strata", type=int, default=10)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:  # the child process that writes the files
        generate(args, args.generate_into)
        return

    from civicdesk.surveys.analysis import estimation, inputs, output, raking

    with tempfile.TemporaryDirectory(prefix="civicdesk-survey-bench-") as tmp:
        directory = Path(tmp)
        # Generated in a child process, so that the peak memory measured is the analysis's.
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - this very script
            [sys.executable, __file__, *sys.argv[1:], "--generate-into", str(directory)],
            check=True,
        )
        generated_s = time.perf_counter() - started
        responses_path, targets_path = directory / "responses.csv", directory / "targets.csv"
        items = [f"q{i}" for i in range(args.items)]

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        responses = inputs.read_csv(responses_path)
        targets = inputs.read_targets(targets_path)
        margins = inputs.read_margins(responses, targets, targets_path)
        design = inputs.read_design(
            responses, weight="base_weight", strata="stratum", cluster="cluster", fpc="fpc"
        )
        item_list = inputs.read_items(responses, items)
        groups = inputs.read_groups(responses, "district")
        t1 = time.perf_counter()
        raked = raking.rake(design.base_weight, margins)
        t2 = time.perf_counter()
        rows = estimation.estimate(design, raked.weights, margins, item_list, groups)
        t3 = time.perf_counter()
        out = directory / "out"
        output.write_all(
            out,
            {
                "weights.csv": lambda p: output.write_weights(responses.raw, raked.weights, p),
                "estimates.csv": lambda p: output.write_estimates(rows, p),
            },
        )
        t4 = time.perf_counter()
        timings = {
            "read_and_check_s": round(t1 - t0, 3),
            "raking_s": round(t2 - t1, 3),
            "estimates_s": round(t3 - t2, 3),
            "write_s": round(t4 - t3, 3),
            "raking_and_estimates_s": round(t3 - t1, 3),
            "total_s": round(t4 - t0, 3),
        }
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    result = {
        "responses": args.responses,
        "raking_variables": args.raking_variables,
        "items": args.items,
        "estimate_rows": len(rows),
        "raking_iterations": raked.iterations,
        "generate_s": round(generated_s, 3),
        **timings,
        "peak_rss_mb": round(peak_mb, 1),
        "target_s": TARGET_S,
        "pass": timings["raking_and_estimates_s"] < TARGET_S,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"survey-{args.responses}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
