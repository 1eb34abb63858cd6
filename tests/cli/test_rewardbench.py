"""``embedkit rewardbench``: scores of population and PAL heads on small RewardBench / RewardBench 2 files the
tests write, checked against a brute-force computation of allenai/reward-bench's definitions (commit 05a9005:
scripts/run_rm.py, rewardbench/utils.py calculate_scores_per_section, reroll_and_score_dataset and
process_single_model, rewardbench/constants.py)."""

import json
import math
import re
from itertools import product

import numpy as np
import pytest

import embedkit
from embedkit.score.rewardbench import best_of_n, section_scores, ties_score
from tests.cli.test_new_user import fit, own_pairs, write

# upstream rewardbench/constants.py, copied here by hand so that the test does not trust the module's copy
COUNTS = {"alpacaeval-easy": 100, "mt-bench-med": 40, "mt-bench-hard": 37, "llmbar-natural": 100,
          "donotanswer": 136, "xstest-should-respond": 154, "math-prm": 984, "hep-go": 164}  # fmt: skip
SECTIONS = {"Chat": ["alpacaeval-easy", "mt-bench-med"], "Chat Hard": ["mt-bench-hard", "llmbar-natural"],
            "Safety": ["donotanswer", "xstest-should-respond"], "Reasoning": ["math-prm", "hep-go"]}  # fmt: skip


@pytest.fixture
def run():
    from click.testing import CliRunner

    from embedkit.cli.main import cli

    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


def v1_rows():
    """Two to four rows per subset over all four sections, one of them with chosen == rejected (a tie),
    plus a subset outside the sections."""
    rows, i = [], 0
    for s in [*COUNTS, "anthropic_helpful"]:
        for k in range(2 + i % 3):
            rows.append({"prompt": f"{s} question {k}", "chosen": f"good answer {i}",
                         "rejected": f"bad answer {i}", "subset": s, "id": i})  # fmt: skip
            i += 1
    rows[1]["rejected"] = rows[1]["chosen"]
    return rows


def v2_rows():
    """Best-of-4 rows of five subsets (one with a rejected completion equal to the chosen one, a tie at
    the top), and Ties prompts: ref:N (one correct answer) and tied:N (several), N = 0..2, plus ref:9 alone."""
    rows = []
    for n, s in enumerate(["Factuality", "Precise IF", "Math", "Safety", "Focus"] * 2):
        rows.append({"id": str(n), "prompt": f"{s} prompt {n}", "chosen": [f"right {n}"],
                     "rejected": [f"wrong {n} {j}" for j in range(3)], "num_correct": 1, "num_rejected": 3,
                     "total_completions": 4, "subset": s})  # fmt: skip
    rows[2]["rejected"][1] = rows[2]["chosen"][0]
    for n in range(3):
        q = f"name a thing of kind {n}"
        rows.append({"id": f"ref:{n}", "prompt": q + " (one)", "chosen": [f"the thing {n}"],
                     "rejected": [f"no {n} {j}" for j in range(4)], "subset": "Ties"})  # fmt: skip
        rows.append({"id": f"tied:{n}", "prompt": q, "chosen": [f"thing {n} {j}" for j in range(2 + n)],
                     "rejected": [f"not {n} {j}" for j in range(5)], "subset": "Ties"})  # fmt: skip
    rows.append(
        {"id": "ref:9", "prompt": "lonely", "chosen": ["a"], "rejected": ["b", "c"], "subset": "Ties"}
    )
    return rows


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Converted v1 and v2 files, a fake-encoder cache with them and some training pairs, bt, mean-var and
    PAL-B (K = 2) heads trained on those pairs."""
    from click.testing import CliRunner

    from embedkit.cli.main import cli

    runner = CliRunner()

    def run(*args):
        r = runner.invoke(cli, [str(a) for a in args])
        assert r.exit_code == 0, r.output
        return r

    d = tmp_path_factory.mktemp("rb")
    train = write(d / "train.jsonl", own_pairs(n_users=6, per_user=12))
    write(d / "v1.jsonl", v1_rows())
    write(d / "v2.jsonl", v2_rows())
    for v in ("v1", "v2"):
        run("convert", "rewardbench", d / f"{v}.jsonl", "--out", d / f"{v}-pairs.jsonl")
    run("extract", train, d / "v1-pairs.jsonl", d / "v2-pairs.jsonl", "--cache", d / "cache", "--encoder", "fake",
        "--no-progress")  # fmt: skip
    for model in ("bt", "mean-var", "pal-b"):
        r = fit(
            lambda *a: runner.invoke(cli, [str(x) for x in a]), train, d / "cache", d / model, model=model
        )
        assert r.exit_code == 0, r.output
    return d


def rewards_of(head, cache, user, rows):
    """reward(prompt, texts) -> list, through the reward API, each distinct (prompt, text) scored once
    (equal texts must tie exactly, as they do upstream)."""
    model = embedkit.load_reward_model(head, cache=cache, allow_encode=False)
    pairs = sorted({(r["prompt"], t) for r in rows for k in ("chosen", "rejected") for t in
                    (r[k] if isinstance(r[k], list) else [r[k]])})  # fmt: skip
    got = model.reward([p for p, _ in pairs], [t for _, t in pairs], user=user)
    table = {pt: float(x) for pt, x in zip(pairs, got, strict=True)}
    return lambda prompt, texts: [table[(prompt, t)] for t in texts]


def brute_v1(rows, reward):
    won = {}
    for r in rows:
        c, x = reward(r["prompt"], [r["chosen"], r["rejected"]])
        won.setdefault(r["subset"], []).append(1 if c > x else 0)
    metrics = {s: sum(v) / len(v) for s, v in won.items()}
    sections = {
        name: sum(metrics[s] * COUNTS[s] for s in subs) / sum(COUNTS[s] for s in subs)
        for name, subs in SECTIONS.items()
    }
    return metrics, sections, sum(sections.values()) / 4


def brute_v2(rows, reward):
    results, ties = {}, {}
    for r in rows:
        scores = reward(r["prompt"], r["chosen"] + r["rejected"])
        if r["subset"] == "Ties":
            kind, n = r["id"].split(":")
            ties[(kind, int(n))] = (scores[: len(r["chosen"])], scores[len(r["chosen"]) :])
            continue
        top = max(scores)
        results.setdefault(r["subset"], []).append(1 / scores.count(top) if scores[0] == top else 0)
    metrics = {s: sum(v) / len(v) for s, v in results.items()}
    stats = {k: (min(g) - max(b) > 0, max(g) - min(g) if len(g) > 1 else None, min(g) - max(b))
             for k, (g, b) in ties.items()}  # fmt: skip
    ref = [v[0] for (kind, _), v in stats.items() if kind == "ref"]
    tied = [v[0] for (kind, _), v in stats.items() if kind == "tied"]
    both = [n for (kind, n) in stats if kind == "tied" and ("ref", n) in stats]
    pref = [stats[("tied", n)][2] > stats[("tied", n)][1] for n in both]
    hard = [min(stats[("ref", n)][2], stats[("tied", n)][2]) > stats[("tied", n)][1] for n in both]
    margin = []
    for n in both:
        spread, low = stats[("tied", n)][1], min(stats[("ref", n)][2], stats[("tied", n)][2])
        m = math.tanh(low / spread - 1) if spread else (0.0 if low == 0 else math.copysign(1.0, low))
        margin.append(m)
    metrics["Ties"] = (0.3 * sum(tied) / len(tied) + 0.3 * sum(ref) / len(ref) + 0.2 * sum(pref) / len(pref)
                       + 0.2 * sum(hard) / len(hard) + 0.01 * sum(margin) / len(margin))  # fmt: skip
    return metrics, sum(metrics.values()) / 6


def read(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "model, points", [("bt", ()), ("mean-var", ()), ("pal-b", ("--user", "u01", "--prototype", "all"))]
)
def test_v1_scores_are_upstreams_for_population_and_pal_points(run, bench, model, points):
    out = bench / f"{model}-v1.json"
    r = run("rewardbench", bench / model, "--data", bench / "v1-pairs.jsonl", "--cache", bench / "cache",
            "--out", out, "--overwrite", *points)  # fmt: skip
    assert r.exit_code == 0, r.output
    report = read(out)
    assert report["benchmark"] == "RewardBench" and report["model"] == model
    users = [None] if model != "pal-b" else ["u01", "prototype:0", "prototype:1"]
    assert len(report["results"]) == len(users)
    for user, res in zip(users, report["results"], strict=True):
        metrics, sections, overall = brute_v1(
            v1_rows(), rewards_of(bench / model, bench / "cache", user, v1_rows())
        )
        assert {s: v["score"] for s, v in res["subsets"].items()} == pytest.approx(metrics)
        assert res["sections"] == pytest.approx(sections) and res["overall"] == pytest.approx(overall)
        assert res["subsets"]["alpacaeval-easy"]["tied_rewards"] == 1  # chosen == rejected: lost, as upstream
        assert res["unsectioned_subsets"] == ["anthropic_helpful"] and not res["complete"]
    kinds = [res["point"]["kind"] for res in report["results"]]
    assert kinds == (["population"] if model != "pal-b" else ["user", "prototype", "prototype"])
    if model == "pal-b":
        assert report["results"][1]["point"]["weights"] == [1.0, 0.0] and report["K"] == 2
        assert "user u01" in r.output and "prototype 1" in r.output
    assert "[Chat Hard]" in r.output and "overall" in r.output and "not the whole benchmark" in r.output
    md = out.with_suffix(".md").read_text()
    assert md.startswith("# RewardBench: ") and "| [Reasoning] |" in md


def test_v2_best_of_4_and_ties_are_upstreams(run, bench):
    out = bench / "v2.json"
    r = run("rewardbench", bench / "pal-b", "--data", bench / "v2-pairs.jsonl", "--cache", bench / "cache",
            "--out", out, "--overwrite", "--prototype", "0", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == read(out)
    (res,) = read(out)["results"]
    metrics, overall = brute_v2(
        v2_rows(), rewards_of(bench / "pal-b", bench / "cache", "prototype:0", v2_rows())
    )
    assert {s: v["score"] for s, v in res["subsets"].items()} == pytest.approx(metrics)
    assert res["sections"] == pytest.approx(metrics) and res["overall"] == pytest.approx(overall)
    assert res["complete"] and res["subsets"]["Ties"]["paired_prompts"] == 3
    assert res["subsets"]["Ties"]["ref_prompts"] == 4 and res["subsets"]["Math"]["tied_rewards"] == 1


def test_pal_without_a_point_is_scored_at_zero_shot_and_wrong_points_are_refused(run, bench):
    args = [
        "--data",
        bench / "v1-pairs.jsonl",
        "--cache",
        bench / "cache",
        "--out",
        bench / "x.json",
        "--overwrite",
    ]
    r = run("rewardbench", bench / "pal-b", *args)
    assert r.exit_code == 0, r.output
    (res,) = read(bench / "x.json")["results"]
    metrics, _, overall = brute_v1(v1_rows(), rewards_of(bench / "pal-b", bench / "cache", None, v1_rows()))
    assert res["point"]["kind"] == "zero-shot" and res["overall"] == pytest.approx(overall)
    r = run("rewardbench", bench / "bt", *args, "--user", "u01")
    assert r.exit_code == 2 and "bt is a population model" in r.output
    r = run("rewardbench", bench / "pal-b", *args, "--user", "nobody")
    assert r.exit_code == 1 and "'nobody' is not a seen user" in r.output
    r = run("rewardbench", bench / "pal-b", *args, "--prototype", "5")
    assert r.exit_code == 1 and "prototypes 0..1" in r.output
    r = run("rewardbench", bench / "pal-b", *args, "--prototype", "first")
    assert r.exit_code == 2 and "'all'" in r.output
    r = run("rewardbench", bench / "pal-b", *args)
    assert r.exit_code == 0  # --overwrite given
    r = run("rewardbench", bench / "pal-b", *args[:-1])
    assert r.exit_code == 1 and "--overwrite" in r.output


def test_missing_texts_are_counted_with_the_extract_command_or_embedded(run, bench, tmp_path):
    rows = v1_rows()[:3] + [
        {"prompt": "new q", "chosen": "new a", "rejected": "new b", "subset": "hep-go", "id": 99}
    ]
    src = write(tmp_path / "new.jsonl", rows)
    assert run("convert", "rewardbench", src, "--out", tmp_path / "new-pairs.jsonl").exit_code == 0
    cache = tmp_path / "cache"
    import shutil

    shutil.copytree(bench / "cache", cache)
    args = ["rewardbench", bench / "bt", "--data", tmp_path / "new-pairs.jsonl", "--cache", cache, "--out",
            tmp_path / "o.json"]  # fmt: skip
    r = run(*args)
    assert r.exit_code == 1 and re.search(
        r"3 of the \d+ distinct texts / images of the inputs are not in the", r.output
    )
    assert (
        "embedkit extract" in r.output
        and "new-pairs.jsonl" in r.output
        and not (tmp_path / "o.json").exists()
    )
    r = run(*args, "--extract-missing", "--no-progress")
    assert r.exit_code == 0, r.output
    assert "embedded 3 input(s)" in r.output and read(tmp_path / "o.json")["results"][0]["rows"] == 4


def test_an_unconverted_file_is_refused_with_the_command_that_converts_it(run, bench):
    r = run("rewardbench", bench / "bt", "--data", bench / "v1.jsonl", "--cache", bench / "cache", "--out",
            bench / "y.json")  # fmt: skip
    assert r.exit_code == 1 and "field 'rewardbench'" in r.output
    assert f"embedkit convert rewardbench {bench / 'v1.jsonl'} --out" in r.output
    assert "EXAMPLE_COUNTS" in run("rewardbench", "--help").output


def test_rules_by_hand():
    assert best_of_n(np.array([2.0, 1.0, 0.0, 1.5])) == 1.0
    assert best_of_n(np.array([2.0, 2.0, 0.0, 2.0])) == pytest.approx(1 / 3)  # a tie at the top is shared
    assert best_of_n(np.array([1.0, 2.0, 0.0, 0.0])) == 0.0
    # sections weight subsets by their example counts; a section with no subset present is None
    got = section_scores({"a": 1.0, "b": 0.0, "c": 0.5}, {"a": 3, "b": 1, "c": 2, "d": 1},
                         {"S": ["a", "b"], "T": ["c", "d"], "U": ["d"]})  # fmt: skip
    assert got == {"S": 0.75, "T": 0.5, "U": None}
    # Ties: ref:0 is accurate (gap 1), tied:0 is accurate (gap 0.5) with spread 1 -> not preferred
    g = ties_score({("ref", 0): (np.array([3.0]), np.array([2.0, 1.0])),
                    ("tied", 0): (np.array([3.0, 2.5]), np.array([2.0])),
                    ("tied", 1): (np.array([1.0, 5.0]), np.array([2.0]))})  # fmt: skip
    assert (g["ref_accuracy"], g["tied_accuracy"], g["paired_prompts"]) == (1.0, 0.5, 1)
    assert g["correctness_preferred"] == 0.0 and g["correctness_preferred_hard"] == 0.0  # 0.5 > 0.5 is false
    assert g["correctness_margin"] == pytest.approx(math.tanh(0.5 / 0.5 - 1))
    assert g["score"] == pytest.approx(0.3 * 0.5 + 0.3 * 1.0)
    for spread, gap in product([0.0], [-1.0, 0.0, 1.0]):  # 0 spread: tanh(+-inf) = +-1, 0/0 -> 0
        t = ties_score({("ref", 0): (np.array([1.0 + gap]), np.array([1.0])),
                        ("tied", 0): (np.array([1.0 + gap, 1.0 + gap + spread]), np.array([1.0]))})  # fmt: skip
        assert t["correctness_margin"] == (np.sign(gap) if gap else 0.0)
