"""The headroom report (``embedkit headroom``, issue #30) on real annotators: MD-Agreement and CSC.

How much can personalisation gain at all on these sets? For each, ``embedkit convert lewidi`` pairs the
annotators' labels within each annotator (the less offensive / less sarcastic item preferred; **ties
kept**, so the report can count them; MD-Agreement at most --md-pairs-per-user pairs per annotator, CSC
every pair), MiniLM embeds each item alone, and :func:`embedkit.score.headroom.headroom_report` fits
PAL-B on a per-user and an item-disjoint split (20% of the annotators new users) and reports, for the new
users: the population point, few-shot at 1, 2, 5, 10, 20 pairs, and the oracle per-user fit on all of a
user's other items; plus the tie share and Krippendorff's alpha on item pairs labelled by several
annotators. Data from ``--data`` (default ``../shared/data/real``; never copied into this repository).

    .venv/bin/python benchmarks/headroom.py            # both sets
    .venv/bin/python benchmarks/headroom.py --only csc

Writes benchmarks/results/headroom.{json,md,png} (``--only``: headroom-<set>.*).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, machine, publish  # noqa: E402
from benchmarks.real_annotators import DATASETS as REAL_SETS  # noqa: E402
from embedkit.data.convert import write_pairs  # noqa: E402
from embedkit.data.ratings import PairingConfig  # noqa: E402
from embedkit.datasets.lewidi import LeWiDiConfig, lewidi_to_pairs  # noqa: E402
from embedkit.extract import extract_files  # noqa: E402
from embedkit.heads.metrics import json_ready  # noqa: E402
from embedkit.score.headroom import HeadroomConfig, conclusion, conclusion_of, headroom_report  # noqa: E402
from embedkit.score.headroom_output import plot_headroom  # noqa: E402

DATASETS = {  # the LeWiDi files and prompts of the real-annotator benchmark (its other settings unused)
    name: {"files": spec["files"], "prompt": spec["prompt"]} for name, spec in REAL_SETS.items()
}


def convert(name: str, spec: dict, data_dir: Path, work: Path, pairs_per_user: int) -> tuple[Path, dict]:
    """The set's per-annotator pairs with ties kept and no split column (the report draws its splits)."""
    files = [data_dir / f for f in spec["files"]]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"{missing[0]} is missing: give --data, the folder with md-agreement/ and csc/")
    pairing = PairingConfig(prefer="lower", prompt=spec["prompt"], ties="keep", pairs_per_user=pairs_per_user)
    rows, report = lewidi_to_pairs(files, LeWiDiConfig(), pairing, split=None)
    path = work / f"{name}-pairs.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    write_pairs(iter(rows), path)
    return path, {"pairs": report["pairs"], "ties": report["ties"], "pairs_per_user": pairs_per_user}


def fmt(v, digits=3):
    return "-" if v is None else f"{float(v):.{digits}f}"


def table_rows(name: str, report: dict) -> list[tuple]:
    rows = []
    for split, s in report["splits"].items():
        o = s["oracle"]
        fs = s["few_shot"]
        rows.append(
            (
                name,
                split,
                f"{s['new_users']} / {s['test_pairs']}",
                fmt(s["population"]),
                *[
                    f"{fmt(fs[k]['accuracy'])} ({100 * fs[k]['gain']:+.1f})" if k in fs else "-"
                    for k in SHOTS
                ],
                f"{fmt(o.get('accuracy'))} vs {fmt(o.get('population'))} ({100 * o['gain']:+.1f} ± "
                f"{100 * o['gain_se']:.1f}; {o['pairs']} pairs)"
                if o.get("pairs")
                else "-",
                s["attribute_prior"]["status"]
                if "gain" not in s["attribute_prior"]
                else fmt(s["attribute_prior"]["gain"]),
            )
        )
    return rows


SHOTS = ("1", "2", "5", "10", "20")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "real")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "headroom")
    ap.add_argument("--only", choices=sorted(DATASETS), default=None)
    ap.add_argument("--K", type=int, default=HeadroomConfig.K)
    ap.add_argument(
        "--md-pairs-per-user",
        type=int,
        default=100,
        help="MD-Agreement pairs drawn per annotator, ties included (about 60%% of them are ties)",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="Take a set's report from the work folder when a run with the same --K and pairs per user saved one",
    )
    ap.add_argument("--splits", default="per-user,item-disjoint", help="per-user, item-disjoint or both")
    ap.add_argument(
        "--saved-only",
        action="store_true",
        help="With --reuse: publish the sets that have a saved report and name the others as not run",
    )
    args = ap.parse_args()
    missing = []
    cache = args.work / "cache"
    cfg = HeadroomConfig(K=args.K, responses="alone", splits=tuple(args.splits.split(",")))
    results, prep = {}, {}
    t_all = time.perf_counter()
    for name, spec in DATASETS.items():
        if args.only and name != args.only:
            continue
        t0 = time.perf_counter()
        per_user = args.md_pairs_per_user if name == "md-agreement" else 0
        meta = (
            args.data / "csc" / "CSC_annotators_meta.json" if name == "csc" else None
        )  # annotators' attributes
        users = meta if meta is not None and meta.is_file() else None
        saved = (
            args.work
            / f"{name}-report-K{args.K}-{per_user}-{'+'.join(cfg.splits)}{'-users' if users else ''}.json"
        )
        if args.reuse and saved.is_file():  # a report this run's settings made before (see --reuse)
            results[name], prep[name] = json.loads(saved.read_text()).values()
            results[name]["conclusion"] = conclusion(results[name])  # in this embedkit's words
            print(f"{name}: reusing {saved}: {results[name]['conclusion']}", flush=True)
            continue
        if args.saved_only:
            missing.append(name)
            continue
        pairs, prep[name] = convert(name, spec, args.data, args.work, per_user)
        extract_files([pairs], cache, "minilm", {"device": "cpu"}, responses="alone", progress=False)
        results[name] = headroom_report(
            [pairs], cache, cfg, notify=lambda line, n=name: print(f"{n}: {line}", flush=True), users=users
        )
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
        results[name] = json_ready(results[name])
        saved.write_text(json.dumps({"report": results[name], "prep": prep[name]}, indent=1) + "\n")
        print(f"{name}: {results[name]['conclusion']} ({results[name]['seconds']:.0f} s)", flush=True)

    header = (
        "data",
        "split",
        "new users / test pairs",
        "population point",
        *[f"{s} shots (gain, points)" for s in SHOTS],
        "oracle vs population, same pairs (gain ± SE)",
        "attribute prior",
    )
    rows = [r for name, rep in results.items() for r in table_rows(name, rep)]
    notes = []
    for name, rep in results.items():
        t, a = rep["ties"], rep["agreement"]
        notes.append(
            f"{name}: {rep['users']} annotators, {t['pairs']} within-annotator pairs "
            f"({prep[name]['pairs_per_user'] or 'all'} per annotator), {t['tie_pairs']} ties "
            f"({100 * t['share_of_pairs']:.1f}%, left out of fitting and scoring); Krippendorff's alpha (nominal) "
            f"{fmt(a['alpha_nominal'])} on {a['units']} item pairs labelled by 2+ annotators ({a['labels']} labels; "
            f"all agree on {100 * (a['units_all_agree'] or 0):.0f}%)"
        )
        for split, s in rep["splits"].items():
            ov = s["item_overlap"].get("unseen_test", {})
            notes.append(
                f"{name}, {split}: {conclusion_of(s)}. Seen users' test accuracy {fmt(s['seen_test'])}; new users' "
                f"test pairs with both items in training pairs: {100 * ov.get('both_items_in_train', 0):.0f}%"
                + (
                    "; the head's few-shot calibration fell back to the population point"
                    if s["few_shot_fallback"]
                    else ""
                )
            )
    notes += [f"{name}: not run to the end (no saved report for these settings)" for name in missing]
    notes.append(
        "Cells: new users' test accuracy; few-shot cells over the users with that many few-shot pairs, the gain over the "
        "population point on the same users' pairs in brackets (points); the oracle fits each new user's weights on all "
        "their other items (two folds by items, weak prior) and is compared with the population point on the same pairs. "
        f"PAL-B K={args.K}, MiniLM, each item embedded alone. Run on 2 CPU cores shared with other work: no timings are claimed."
    )
    out = {
        "run_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "config": {"K": args.K, "md_pairs_per_user": args.md_pairs_per_user},
        "prep": prep,
        "results": results,
    }
    merged = {"splits": {f"{n}, {s}": sec for n, rep in results.items() for s, sec in rep["splits"].items()}}
    name = "headroom" + (f"-{args.only}" if args.only else "")
    publish(name, out, rows, header, notes, lambda path: plot_headroom(merged, path))
    print(f"{time.perf_counter() - t_all:.0f} s in all")


if __name__ == "__main__":
    main()
