"""What a new user hit on real crowd data (issue 22): progress and warnings of long fits, K chosen through
training noise, shot counts some users cannot reach, item overlap, item-disjoint splits, split files,
score's counts, one rendering of conversations, folders that are not caches."""

import json
import logging

import numpy as np
import pytest

from embedkit.heads.select_k import choose_k, monotonic
from tests.cli.test_new_user import fit, own_pairs, write


@pytest.fixture
def run():
    from click.testing import CliRunner

    from embedkit.cli.main import cli

    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


@pytest.fixture
def own(tmp_path, run):
    pairs = write(tmp_path / "mine.jsonl", own_pairs(n_users=20, per_user=24))
    assert (
        run("extract", pairs, "--cache", tmp_path / "cache", "--encoder", "fake", "--no-progress").exit_code
        == 0
    )
    return pairs, tmp_path / "cache"


def test_k_choice_and_its_message_do_not_repeat_themselves():
    rows = [
        {"K": k, "val_accuracy": a, "val_se": 0.004}
        for k, a in enumerate((0.912, 0.907, 0.910, 0.914, 0.898, 0.929), 1)
    ]
    assert not monotonic(rows) and monotonic([{"val_accuracy": a} for a in (0.5, 0.6, 0.6)])
    chosen, best, _, message = choose_k(rows)
    assert (chosen, best) == (6, 6) and message.count("0.9290") == 1 and "no smaller K" in message


def test_k_auto_prints_a_line_per_k_with_its_time_and_warns_at_the_edge(run, own, tmp_path):
    pairs, cache = own
    if True:  # progress lines go to stderr, as plain lines (no bar: CliRunner's stderr is not a terminal)
        r = run("fit-head", "--model", "pal-b", "--K", "auto", "--K-max", 2, "--K-repeats", 1, "--pairs", pairs,
                "--cache", cache, "--encoder", "fake", "--out", tmp_path / "h", "--hidden-dim", 16, "--epochs", 4)  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = [m for m in r.stderr.splitlines() if m.startswith("K = ") and "validation accuracy" in m]
    assert len(lines) >= 2 and "K = 1 of 2" in lines[0] and " s)" in lines[0]
    epochs = [m for m in r.stderr.splitlines() if ": epoch " in m]
    assert epochs and all(m.startswith("K = ") for m in epochs)  # every epoch line names its K (#31)
    assert {m.split(":")[0] for m in epochs} == {"K = 1 of 2", "K = 2 of 2"}
    estimate = [m for m in r.stderr.splitlines() if m.startswith("--K auto: the first epoch (K = 1) took")]
    assert len(estimate) == 1 and "the sweep K = 1..2 should take" in estimate[0]
    assert any(
        m.startswith("--K auto: K = 1 took") and "K = 2..2 estimated" in m for m in r.stderr.splitlines()
    )
    assert "seconds" in r.output  # the table has each K's time
    sel = json.loads((tmp_path / "h/k_selection.json").read_text())
    assert all("seconds" in row for row in sel["rows"]) and sel["message"] in r.output
    if sel["chosen"] == 2:
        assert "the largest K it tried" in r.output


def test_epoch_lines_when_stderr_is_not_a_terminal_and_a_warning_at_the_epoch_cap(run, own, tmp_path):
    pairs, cache = own
    if True:
        r = run("fit-head", "--model", "bt", "--pairs", pairs, "--cache", cache, "--encoder", "fake",
                "--out", tmp_path / "h", "--epochs", 2, "--patience", 5, "--lr", "1e-5")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sum("epoch " in m and "/2," in m for m in r.stderr.splitlines()) == 2  # one line per epoch
    assert "not converged" in r.output  # still improving at the cap


def test_eval_reports_item_overlap_and_fit_head_splits_by_item(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "by-user").exit_code == 0
    r = run("eval", tmp_path / "by-user", "--pairs", pairs, "--cache", cache, "--json")
    overlap = json.loads(r.stdout)["item_overlap"]
    assert 0 < overlap["test"]["both_items_in_train"] <= overlap["test"]["any_item_in_train"] <= 1
    r = fit(run, pairs, cache, tmp_path / "by-item", "--split-by", "item", "--test-frac", 0.3)
    assert r.exit_code == 0, r.output
    stored = json.loads((tmp_path / "by-item/config.json").read_text())
    assert stored["data_setup"]["split"]["by"] == "item"
    items = stored["metrics"]["item_overlap"]
    assert items["test"]["any_item_in_train"] == 0 and items["unseen_test"]["any_item_in_train"] == 0
    r = run("eval", tmp_path / "by-item", "--pairs", pairs, "--cache", cache)
    assert r.exit_code == 0 and "item_overlap.test.any_item_in_train" in r.output


def test_split_by_column_writes_the_files_score_takes(run, tmp_path):
    rows = [
        {**r, "split": s}
        for r, s in zip(own_pairs(n_users=2, per_user=4), ["fewshot", "unseen_test"] * 4, strict=True)
    ]
    src = write(tmp_path / "p.jsonl", rows)
    r = run("split", src, "--by", "split", "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "out/fewshot.jsonl").read_text().splitlines()) == 4
    assert json.loads((tmp_path / "out/unseen_test.jsonl").read_text().splitlines()[0]) == rows[1]
    r = run("split", src, "--by", "split", "--out", tmp_path / "out")  # no overwrite: the file, named once
    assert (
        r.exit_code == 1 and f"Error: {tmp_path / 'out'}/" in r.output and r.output.count(str(tmp_path)) == 1
    )
    r = run("split", src, "--by", "nosuch", "--out", tmp_path / "o2")
    assert r.exit_code == 1 and "no nosuch (fields present:" in r.output


def test_score_counts_rows_users_and_missing_inputs_plainly(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "h", "--unseen-user-frac", 0).exit_code == 0
    rows = [
        {
            "user": r["user"],
            "prompt": r["prompt"],
            "left": r["chosen"],
            "right": r["rejected"],
            "label": "left",
        }
        for r in own_pairs(n_users=3, per_user=5, seed=3, user_prefix="new")
    ]
    rows[0]["label"] = "tie"
    todo = write(tmp_path / "todo.jsonl", rows)
    shots = write(tmp_path / "shots.jsonl", own_pairs(n_users=4, per_user=3, seed=4, user_prefix="new"))
    r = run(
        "score",
        tmp_path / "h",
        "--cache",
        cache,
        "--fewshot",
        shots,
        "--pairs",
        todo,
        "--out",
        tmp_path / "o.jsonl",
    )
    assert r.exit_code == 1
    assert "distinct texts / images of the inputs (few-shot pairs included) are not in the cache" in r.output
    missing = int(r.output.split("Error: ")[1].split(" of the ")[0])
    r = run("score", tmp_path / "h", "--cache", cache, "--fewshot", shots, "--pairs", todo, "--out", tmp_path / "o.jsonl",
            "--extract-missing")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"embedded {missing} input(s)" in r.output  # what the message counted is what gets embedded
    assert (
        "3 users in the scored rows; weights of 4 users" in r.output
        and "1 of them only in the few-shot" in r.output
    )
    assert "on the 14 rows that prefer a side, of 15 (1 ties left out" in r.output
    assert " shots: " in r.output and " rows)" in r.output


def test_conversations_are_scored_the_way_the_heads_training_texts_were_written(own, tmp_path, run):
    import embedkit

    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "plain").exit_code == 0
    model = embedkit.load_reward_model(tmp_path / "plain", cache=cache)
    fn = model.reward_function(user="prototype:0")
    q, a = "question 3", "answer 1"
    as_text = fn(prompts=[q], completions=[a])
    as_messages = fn(
        prompts=[[{"role": "user", "content": q}]], completions=[[{"role": "assistant", "content": a}]]
    )
    assert as_text == as_messages  # plain training texts: the messages' contents are what is scored
    rendered = [{**r, "prompt": "user: " + r["prompt"], "chosen": "assistant: " + r["chosen"],
                 "rejected": "assistant: " + r["rejected"]} for r in own_pairs(n_users=20, per_user=24)]  # fmt: skip
    conv = write(tmp_path / "conv.jsonl", rendered)
    assert run("extract", conv, "--cache", cache, "--encoder", "fake", "--no-progress").exit_code == 0
    assert fit(run, conv, cache, tmp_path / "conv").exit_code == 0
    fn2 = embedkit.load_reward_model(tmp_path / "conv", cache=cache).reward_function(user="prototype:0")
    got = fn2(prompts=[[{"role": "user", "content": q}]], completions=[[{"role": "assistant", "content": a}]])
    assert got == fn2(prompts=["user: " + q], completions=["assistant: " + a])  # rendered as it was trained


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_reward_function_takes_integer_ids_unknown_users_and_every_trl_keyword(own, tmp_path, run):
    import embedkit

    pairs, cache = own
    rows = [{**r, "user": str(i % 20)} for i, r in enumerate(own_pairs(n_users=20, per_user=24))]
    ints = write(tmp_path / "ints.jsonl", rows)
    assert fit(run, ints, cache, tmp_path / "h", "--unseen-user-frac", 0).exit_code == 0
    fn = embedkit.load_reward_model(tmp_path / "h", cache=cache).reward_function()
    q = ["question 1"] * 3
    c = ["answer 1", "answer 2", "answer 3"]
    seen = _Messages()  # the CLI runs above reset the root logger, so listen on the module's own
    logging.getLogger("embedkit.score.api").addHandler(seen)
    if True:
        by_int = fn(prompts=q, completions=c, user=[0, 1, 999], completion_ids=[[1], [2], [3]],
                    trainer_state=object(), log_extra=lambda *a: None, other_column=["x", "y", "z"])  # fmt: skip
        again = fn(prompts=q, completions=c, user=[0, 1, 998])
    by_str = fn(prompts=q, completions=c, user=["0", "1", None])
    assert by_int == by_str and again[:2] == by_str[:2]  # 999 / 998: unknown, so zero-shot
    logging.getLogger("embedkit.score.api").removeHandler(seen)
    assert sum("not seen users of this head" in m for m in seen.messages) == 1  # warned once


def test_a_head_or_a_namespace_folder_is_refused_as_a_cache(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "h").exit_code == 0
    r = run(
        "fit-head",
        "--model",
        "bt",
        "--pairs",
        pairs,
        "--cache",
        tmp_path / "h",
        "--encoder",
        "fake",
        "--out",
        tmp_path / "x",
    )
    assert (
        r.exit_code == 1
        and "is a saved head, not an embedding cache" in r.output
        and "embedkit extract" not in r.output
    )
    for wrong, message in (
        (tmp_path / "h", "is a saved head, not an embedding cache"),
        (tmp_path / "no", "does not exist"),
    ):
        r = run("score", tmp_path / "h", "--cache", wrong, "--pairs", pairs, "--out", tmp_path / "s.jsonl")
        assert r.exit_code == 1 and message in r.output, r.output
        assert "scoring" not in r.output  # the error comes before any progress bar is drawn
    ns = next(p for p in cache.iterdir() if p.is_dir() and p.name.startswith("fake"))
    r = run("extract", pairs, "--cache", ns, "--encoder", "fake", "--no-progress")
    assert r.exit_code == 1 and f"the cache is its parent folder {cache}" in r.output
    assert not (ns / "manifest.json").exists() and not (tmp_path / "h/manifest.json").exists()
    assert not (ns / ".lock").exists() and not np.any([p.name == ".lock" for p in (tmp_path / "h").iterdir()])
