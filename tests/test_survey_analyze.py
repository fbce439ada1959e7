"""`civicdesk survey analyze`: raking and design-based estimates agree with R's survey
package (figures from tests/data/surveys/reference.R, copied below so R is not needed),
the outputs have their contracted shape, and every bad input is refused by name with
nothing written."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicdesk.surveys.analysis import SurveyInputError, survey_analyze
from civicdesk.surveys.analysis.inputs import Margin
from civicdesk.surveys.analysis.raking import rake, weight_diagnostics

DATA = Path(__file__).parent / "data" / "surveys"
ITEMS = ["api00", "enroll", "acs.k3", "rating"]
RELATIVE = 0.005  # the bar: within 0.5% of R

# R 4.2.2, survey 4.1.1: svymean(..., na.rm=TRUE, deff=TRUE) on rake() designs; per item
# (item, group, estimate, se, deff, n). Regenerate with `Rscript tests/data/surveys/reference.R`.
R_REFERENCE: dict[str, list[tuple[str, str, float, float, float, int]]] = {
    "rake_only": [
        ("api00", "", 662.211650357845, 9.36743181217039, 1.1934794402236, 200),
        ("enroll", "", 595.43436760788, 19.029084608193, 0.382092761782001, 200),
        ("acs.k3", "", 19.1649923807068, 0.123670957681784, 1.01701492028092, 97),
        ("rating", "", 0.416865839922491, 0.0419672315908761, 1.22072987511094, 164),
    ],
    "rake_base_weight": [
        ("api00", "", 662.211650357843, 9.36743181216953, 1.19347944022342, 200),
        ("enroll", "", 595.434367607951, 19.0290846081996, 0.382092761782155, 200),
        ("acs.k3", "", 19.1649923807068, 0.123670957681786, 1.01701492028094, 97),
        ("rating", "", 0.416865839922476, 0.0419672315908728, 1.22072987511076, 164),
    ],
    "stratified_fpc": [
        ("api00", "", 662.53949749202, 9.25457805678143, 1.17451475652662, 200),
        ("api00", "No", 625.9282999468, 14.1309981208642, 1.20129289064805, 87),
        ("api00", "Yes", 678.331648437105, 11.7665388261127, 1.12377976443049, 113),
        ("enroll", "", 597.382516381952, 19.392823113492, 0.396105370827032, 200),
        ("enroll", "No", 762.453116180627, 64.5294695169488, 1.02989042338645, 87),
        ("enroll", "Yes", 526.179714960433, 24.098406565503, 0.634119474147711, 113),
        ("acs.k3", "", 19.1463497354978, 0.130150637058701, 1.06499852809271, 97),
        ("acs.k3", "No", 19.3619970411089, 0.120831480759883, 1.03173337863344, 27),
        ("acs.k3", "Yes", 19.0857142857143, 0.162762939037865, 0.993987707216459, 70),
        ("rating", "", 0.418826439151612, 0.0421785220000459, 1.23141317526531, 164),
        ("rating", "No", 0.322884027958314, 0.0614261213963259, 1.26779625675509, 71),
        ("rating", "Yes", 0.459787691694094, 0.0541868513911769, 1.11698541905018, 93),
    ],
    "cluster": [
        ("api00", "", 641.23032092682, 23.7036168879225, 9.63699893111259, 183),
        ("api00", "E", 647.446579228416, 22.8084121940973, 6.89250528116642, 144),
        ("api00", "H", 621.291861054897, 36.7431448777652, 2.14089141468028, 14),
        ("api00", "M", 629.021538266647, 29.9628809590603, 1.95985114629482, 25),
        ("enroll", "", 588.840837595288, 64.6760182211769, 4.43914676864365, 183),
        ("enroll", "E", 432.964089158587, 16.8052530425972, 2.11229969218736, 144),
        ("enroll", "H", 1104.61639983597, 351.724857248599, 2.52359922460723, 14),
        ("enroll", "M", 883.261815342738, 97.8461545957821, 1.99040101894021, 25),
        ("acs.k3", "", 20.0292730730501, 0.521971327294564, 11.1573815716927, 144),
        ("acs.k3", "E", 20.0292730730501, 0.521971327294564, 11.1573815716927, 144),
        ("acs.k3", "H", math.nan, math.nan, math.nan, 0),
        ("acs.k3", "M", math.nan, math.nan, math.nan, 0),
        ("rating", "", 0.334232870930944, 0.0831192282973372, 4.76404675188581, 150),
        ("rating", "E", 0.387276893696374, 0.0857105926168695, 3.55188740482073, 112),
        ("rating", "H", 0.266645833727355, 0.154348727700679, 1.61372541133385, 14),
        ("rating", "M", 0.199991211447024, 0.103120118354897, 1.56698097075608, 24),
    ],
}

# How each case of reference.R is called.
CASES: dict[str, dict[str, Any]] = {
    "rake_only": {"responses": "apistrat.csv", "targets": "api_targets.csv"},
    "rake_base_weight": {"responses": "apistrat.csv", "targets": "api_targets.csv", "weight": "pw"},
    "stratified_fpc": {
        "responses": "apistrat.csv",
        "targets": "api_targets_3.csv",
        "weight": "pw",
        "strata": "stype",
        "fpc": "fpc",
        "by": "awards",
    },
    "cluster": {
        "responses": "apiclus1.csv",
        "targets": "api_targets.csv",
        "weight": "pw",
        "cluster": "dnum",
        "fpc": "fpc",
        "by": "stype",
    },
}


def _analyze(case: str, out: Path) -> Any:
    spec = dict(CASES[case])
    return survey_analyze(
        responses_path=DATA / spec.pop("responses"),
        targets_path=DATA / spec.pop("targets"),
        items=ITEMS,
        out=out,
        **spec,
    )


def _rel(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs) if theirs else abs(ours)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("case", list(CASES))
def test_estimates_agree_with_r(case: str, tmp_path: Path) -> None:
    result = _analyze(case, tmp_path / "out")
    ours = {(r.item, r.group): r for r in result.estimates}
    assert len(ours) == len(R_REFERENCE[case])
    worst = 0.0
    for item, group, estimate, se, deff, n in R_REFERENCE[case]:
        row = ours[(item, group)]
        assert row.n == n, (item, group)
        if math.isnan(estimate):  # nobody in the group answered: R gives NaN, we leave blanks
            assert math.isnan(row.estimate) and math.isnan(row.se) and math.isnan(row.deff)
            continue
        for mine, theirs, what in (
            (row.estimate, estimate, "estimate"),
            (row.se, se, "se"),
            (row.deff, deff, "deff"),
        ):
            worst = max(worst, _rel(mine, theirs))
            assert _rel(mine, theirs) < RELATIVE, (item, group, what, mine, theirs)
    # In fact they agree to about a millionth; a drift towards the bar means a changed method.
    assert worst < 1e-5


@pytest.mark.parametrize("case", list(CASES))
def test_raked_weights_agree_with_r(case: str, tmp_path: Path) -> None:
    _analyze(case, tmp_path / "out")
    reference = [
        float(r["weight"]) for r in _read_csv(DATA / "reference_weights.csv") if r["case"] == case
    ]
    weights = [float(r["weight"]) for r in _read_csv(tmp_path / "out" / "weights.csv")]
    assert len(weights) == len(reference)
    assert max(_rel(w, r) for w, r in zip(weights, reference, strict=True)) < 1e-6


def _cluster_args(out: Path, *extra: str) -> list[str]:
    return [
        "analyze",
        str(DATA / "apiclus1.csv"),
        "--targets",
        str(DATA / "api_targets.csv"),
        "--items",
        "api00,enroll,acs.k3,rating",
        "--weight",
        "pw",
        "--cluster",
        "dnum",
        "--fpc",
        "fpc",
        "--by",
        "stype",
        "--out",
        str(out),
        *extra,
    ]


def test_command_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    call_command("survey", *_cluster_args(out))
    printed = capsys.readouterr().out
    assert "converged after" in printed and "effective sample size" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "diagnostics.json",
        "estimates.csv",
        "weights.csv",
    ]

    with (out / "estimates.csv").open(newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header == ["item", "group", "estimate", "se", "ci_low", "ci_high", "n", "deff"]
    rows = _read_csv(out / "estimates.csv")
    assert [(r["item"], r["group"]) for r in rows[:4]] == [
        ("api00", ""),
        ("api00", "E"),
        ("api00", "H"),
        ("api00", "M"),
    ]
    api00 = rows[0]
    est, se = float(api00["estimate"]), float(api00["se"])
    assert float(api00["ci_low"]) == pytest.approx(est - 1.959964 * se)
    assert float(api00["ci_high"]) == pytest.approx(est + 1.959964 * se)
    # acs.k3 is only answered by elementary schools: the other groups are blank, n 0.
    empty = next(r for r in rows if r["item"] == "acs.k3" and r["group"] == "H")
    assert empty["estimate"] == empty["se"] == empty["deff"] == "" and empty["n"] == "0"
    # A share positive stays within 0..1 even when the normal interval would not.
    for r in rows:
        if r["item"] == "rating":
            assert 0 <= float(r["ci_low"]) <= float(r["estimate"]) <= float(r["ci_high"]) <= 1

    responses = _read_csv(DATA / "apiclus1.csv")
    weighted = _read_csv(out / "weights.csv")
    assert list(weighted[0]) == [*responses[0], "weight"]
    assert [{k: v for k, v in r.items() if k != "weight"} for r in weighted] == responses
    assert sum(float(r["weight"]) for r in weighted) == pytest.approx(6194)

    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["raking"]["converged"] is True
    assert diagnostics["raking"]["iterations"] >= 2
    assert diagnostics["items"] == {
        "api00": "numeric",
        "enroll": "numeric",
        "acs.k3": "numeric",
        "rating": "rating",
    }
    w = diagnostics["weights"]
    assert w["respondents"] == 183
    assert w["effective_sample_size"] == pytest.approx(183 / w["deff_weighting_kish"])
    assert w["weight_ratio_max_min"] == pytest.approx(w["weight_max"] / w["weight_min"])


def test_into_an_existing_directory(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("kept")
    call_command("survey", *_cluster_args(out))
    assert sorted(p.name for p in out.iterdir()) == [
        "diagnostics.json",
        "estimates.csv",
        "notes.txt",
        "weights.csv",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_trimming_caps_weights_and_keeps_the_margins(tmp_path: Path) -> None:
    out = tmp_path / "out"
    call_command("survey", *_cluster_args(out, "--trim-max", "1.8"))
    weights = np.array([float(r["weight"]) for r in _read_csv(out / "weights.csv")])
    mean = 6194 / 183
    assert weights.max() <= 1.8 * mean * 1.001
    stype = [r["stype"] for r in _read_csv(out / "weights.csv")]
    totals = {s: weights[[t == s for t in stype]].sum() for s in "EHM"}
    assert totals == pytest.approx({"E": 4421, "H": 755, "M": 1018}, rel=1e-6)
    diagnostics = json.loads((out / "diagnostics.json").read_text())
    assert diagnostics["raking"]["trim_cycles"] >= 1
    assert diagnostics["raking"]["trimmed"] >= 1


def test_trimming_out_of_reach_is_refused(tmp_path: Path) -> None:
    # 755 high schools' worth of weight over 14 sampled ones needs 1.59 x the mean weight.
    out = tmp_path / "out"
    with pytest.raises(CommandError, match=r"could not both be met after 50 cycles"):
        call_command("survey", *_cluster_args(out, "--trim-max", "1.4"))
    assert not out.exists()


def test_rake_and_diagnostics_on_arrays() -> None:
    codes_a = np.array([0, 0, 1, 1, 1])
    codes_b = np.array([0, 1, 0, 1, 1])
    margins = [
        Margin("sex", ["F", "M"], codes_a, np.array([60.0, 40.0])),
        Margin("age", ["young", "old"], codes_b, np.array([30.0, 70.0])),
    ]
    result = rake(np.ones(5), margins, tolerance=1e-10)
    assert result.converged
    assert np.bincount(codes_a, result.weights) == pytest.approx([60, 40])
    assert np.bincount(codes_b, result.weights) == pytest.approx([30, 70])
    d = weight_diagnostics(np.array([1.0, 1.0, 2.0, 4.0]))
    assert d["deff_weighting_kish"] == pytest.approx(4 * 22 / 64)
    assert d["effective_sample_size"] == pytest.approx(64 / 22)
    assert d["weight_ratio_max_min"] == 4


# --- bad input ------------------------------------------------------------------------

RESPONSES = """id,sex,age,q1,q2,w,stratum,psu,N
1,F,young,Excellent,3,10,a,1,100
2,F,old,good,4,12,a,1,100
3,M,young,Poor,5,8,a,2,100
4,M,old,Don't know,2,10,b,3,50
5,F,old,Fair,,11,b,4,50
6,M,young,,1,9,b,4,50
"""
TARGETS = """variable,category,population
sex,F,520
sex,M,480
age,young,400
age,old,600
"""


def _files(tmp_path: Path, responses: str | bytes = RESPONSES, targets: str = TARGETS) -> list[str]:
    r = tmp_path / "responses.csv"
    if isinstance(responses, bytes):
        r.write_bytes(responses)
    else:
        r.write_text(responses, encoding="utf-8")
    t = tmp_path / "targets.csv"
    t.write_text(targets, encoding="utf-8")
    return ["analyze", str(r), "--targets", str(t)]


def test_small_survey_works(tmp_path: Path) -> None:
    out = tmp_path / "out"
    call_command(
        "survey",
        *_files(tmp_path),
        "--items",
        "q1,q2",
        "--weight",
        "w",
        "--strata",
        "stratum",
        "--cluster",
        "psu",
        "--fpc",
        "N",
        "--by",
        "sex",
        "--out",
        str(out),
    )
    rows = {(r["item"], r["group"]): r for r in _read_csv(out / "estimates.csv")}
    assert rows[("q1", "")]["n"] == "4"  # "Don't know" and the blank are left out
    assert rows[("q2", "")]["n"] == "5"
    assert json.loads((out / "diagnostics.json").read_text())["items"] == {
        "q1": "rating",
        "q2": "numeric",
    }


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


BAD_INPUTS: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    # name: (files, extra options, fragments of the message)
    "target category absent from responses": (
        {"targets": TARGETS + "age,middle,0.5\n"},
        [],
        ["age = 'middle'", "no respondent"],
    ),
    "response category absent from targets": (
        {"responses": _replace(RESPONSES, "6,M,young", "6,X,young")},
        [],
        ["line 7", "sex = 'X'", "no population"],
    ),
    "totals disagree": (
        {"targets": _replace(TARGETS, "age,old,600", "age,old,700")},
        [],
        ["'sex' add up to 1,000", "'age' to 1,100", "same population"],
    ),
    "non-numeric weight": (
        {"responses": _replace(RESPONSES, ",12,a,", ",twelve,a,")},
        ["--weight", "w"],
        ["line 3", "'w'", "'twelve'", "not a number"],
    ),
    "non-positive weight": (
        {"responses": _replace(RESPONSES, ",12,a,", ",0,a,")},
        ["--weight", "w"],
        ["line 3", "'w'", "greater than 0"],
    ),
    "blank weight": (
        {"responses": _replace(RESPONSES, ",12,a,", ",,a,")},
        ["--weight", "w"],
        ["line 3", "'w'", "blank"],
    ),
    "raking does not converge": (
        # The only man is old: no weights give 480 men and only 400 old people.
        {
            "responses": "id,sex,age,q2\n1,F,young,1\n2,F,young,2\n3,M,old,3\n4,F,old,4\n",
            "targets": TARGETS.replace("young,400", "young,600").replace("old,600", "old,400"),
        },
        ["--max-iterations", "30"],
        ["did not converge after 30 iterations", "population of", "off"],
    ),
    "missing item column": ({}, ["--items", "q9"], ["no column 'q9' (--items)", "columns are"]),
    "missing design column": ({}, ["--strata", "region"], ["no column 'region' (--strata)"]),
    "missing raking variable": (
        {"targets": TARGETS + "income,low,1000\n"},
        [],
        ["no column 'income' (a raking variable in targets.csv)"],
    ),
    "empty responses": ({"responses": ""}, [], ["responses.csv: is empty"]),
    "ragged row": (
        {
            "responses": _replace(
                RESPONSES, "3,M,young,Poor,5,8,a,2,100", "3,M,young,Poor,5,8,a,2,100,x"
            )
        },
        [],
        ["line 4 has 10 values but the header names 9 columns"],
    ),
    "header only": ({"responses": "id,sex,age,q2\n"}, [], ["has a header line but no rows"]),
    "empty targets": ({"targets": "\n"}, [], ["targets.csv: is empty"]),
    "targets without population": (
        {"targets": "variable,category\nsex,F\n"},
        [],
        ["no column 'population'"],
    ),
    "wrong encoding": (
        {"responses": RESPONSES.replace("Fair", "Médiocre").encode("latin-1")},
        [],
        ["is not UTF-8", "line 6", "0xE9", "UTF-8"],
    ),
    "item neither rating nor numeric": (
        {"responses": _replace(RESPONSES, "good", "Very good")},
        ["--items", "q1"],
        ["line 3", "'q1'", "'Very good'", "rating label"],
    ),
    "numeric item with text": (
        {"responses": _replace(RESPONSES, "Poor,5", "Poor,five")},
        ["--items", "q2"],
        ["line 4", "'q2'", "'five'", "a number"],
    ),
    "fpc smaller than the sample": (
        {"responses": RESPONSES.replace(",50\n", ",1\n")},
        ["--strata", "stratum", "--cluster", "psu", "--fpc", "N"],
        ["fpc column 'N' gives 1 clusters", "stratum 'b'", "fewer than the 2 clusters"],
    ),
    "fpc varies in a stratum": (
        {"responses": _replace(RESPONSES, "b,4,50\n6", "b,4,60\n6")},
        ["--strata", "stratum", "--fpc", "N"],
        ["line 6", "'N'", "same within stratum 'b'"],
    ),
    "negative population": (
        {"targets": _replace(TARGETS, "sex,M,480", "sex,M,-480")},
        [],
        ["line 3", "sex = 'M'", "greater than 0"],
    ),
    "blank raking variable": (
        {"responses": _replace(RESPONSES, "5,F,old", "5,,old")},
        [],
        ["line 6", "'sex' is blank"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_nothing_is_written(case: str, tmp_path: Path) -> None:
    files, extra, fragments = BAD_INPUTS[case]
    out = tmp_path / "out"
    args = _files(tmp_path, files.get("responses", RESPONSES), files.get("targets", TARGETS))
    if "--items" not in extra:
        extra = [*extra, "--items", "q2"]
    with pytest.raises(CommandError) as raised:
        call_command("survey", *args, *extra, "--out", str(out))
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["responses.csv", "targets.csv"]


def test_bad_input_leaves_an_existing_directory_empty(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = _files(tmp_path, targets=TARGETS + "age,middle,0.5\n")
    with pytest.raises(SurveyInputError):
        survey_analyze(
            responses_path=Path(args[1]), targets_path=Path(args[3]), items=["q2"], out=out
        )
    assert list(out.iterdir()) == []


def test_the_command_line_exits_1_with_the_message(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = _files(tmp_path, targets=TARGETS + "age,middle,0.5\n")
    done = subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "civicdesk", "survey", *args, "--items", "q2", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "age = 'middle'" in done.stderr
    assert not out.exists()


def test_stratified_cluster_design_agrees_with_svy(tmp_path: Path) -> None:
    """The R cases have strata or clusters, not both; svy (which reproduces R on those
    cases) checks a stratified cluster sample with three raking variables and groups."""
    svy = pytest.importorskip("svy")
    import polars as pl

    rng = np.random.default_rng(7)
    n = 600
    frame = pl.DataFrame(
        {
            "stratum": rng.choice(["north", "south", "east"], n),
            "block": rng.integers(0, 12, n).astype(str),
            "sex": rng.choice(["F", "M"], n, p=[0.6, 0.4]),
            "age": rng.choice(["18-34", "35-64", "65+"], n, p=[0.2, 0.5, 0.3]),
            "tenure": rng.choice(["own", "rent"], n),
            "w": rng.uniform(1, 3, n).round(3),
            "score": rng.normal(70, 12, n).round(1),
            "ward": rng.choice(["W1", "W2", "W3"], n),
        }
    ).with_columns(
        N=pl.col("stratum").replace_strict({"north": 40, "south": 30, "east": 25}, default=0),
        rating=pl.Series(rng.choice(["Excellent", "Good", "Fair", "Poor", "Don't know"], n)),
    )
    responses = tmp_path / "responses.csv"
    frame.write_csv(responses)
    controls = {
        "sex": {"F": 5100.0, "M": 4900.0},
        "age": {"18-34": 3000.0, "35-64": 4800.0, "65+": 2200.0},
        "tenure": {"own": 6000.0, "rent": 4000.0},
    }
    targets = tmp_path / "targets.csv"
    targets.write_text(
        "variable,category,population\n"
        + "".join(f"{v},{c},{t}\n" for v, cats in controls.items() for c, t in cats.items())
    )
    result = survey_analyze(
        responses_path=responses,
        targets_path=targets,
        items=["score", "rating"],
        out=tmp_path / "out",
        weight="w",
        strata="stratum",
        cluster="block",
        fpc="N",
        by="ward",
    )
    ours = {(r.item, r.group): r for r in result.estimates}

    frame = frame.with_columns(
        psu=pl.col("stratum") + "/" + pl.col("block"),
        positive=pl.when(pl.col("rating").is_in(["Excellent", "Good"]))
        .then(1.0)
        .when(pl.col("rating") == "Don't know")
        .then(None)
        .otherwise(0.0),
    )
    sample = svy.Sample(frame, svy.Design(stratum="stratum", psu="psu", wgt="w", pop_size="N"))
    sample = sample.weighting.rake(controls=controls, tol=1e-10, max_iter=200)
    for item, column in (("score", "score"), ("rating", "positive")):
        overall = sample.estimation.mean(column, deff="wor", drop_nulls=True).to_polars()
        by_ward = sample.estimation.mean(column, by="ward", deff="wor", drop_nulls=True)
        checks = [("", overall.row(0, named=True))] + [
            (r["ward"], r) for r in by_ward.to_polars().iter_rows(named=True)
        ]
        for group, theirs in checks:
            mine = ours[(item, group)]
            assert mine.n == theirs["n"]
            for a, b in (
                (mine.estimate, theirs["est"]),
                (mine.se, theirs["se"]),
                (mine.deff, theirs["deff"]),
            ):
                assert _rel(a, b) < 1e-4, (item, group, a, b)
