"""What a new user hit (issue 7): heads that remember their set-up, hints that work when followed, errors
and help that teach, output a person can read."""

import json
import re
import shlex

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def _run(*args, env=None):
        return runner.invoke(cli, [str(a) for a in args], env=env)

    return _run


def own_pairs(n_users=12, per_user=30, seed=0, user_prefix="u"):
    """A researcher's own file: no split column; half the users like long answers, half short ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for i in range(per_user):
            q = f"question {int(rng.integers(40))}"
            short, long = f"answer {i}", f"a much longer answer number {i} with detail"
            likes_long = u % 2 == 0
            rows.append(
                {
                    "user": f"{user_prefix}{u:02d}",
                    "prompt": q,
                    "chosen": long if likes_long else short,
                    "rejected": short if likes_long else long,
                }
            )
    return rows


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def suggested_command(output: str) -> list[str]:
    """The `embedkit extract ...` command an error message suggests, as argv (without `embedkit`)."""
    m = re.search(r"first: ((?:\S+=\S+ )*embedkit extract .*?)$", output, re.M)
    assert m, output
    argv = shlex.split(m.group(1))
    env = {}
    while "=" in argv[0] and argv[0] != "embedkit":
        k, v = argv.pop(0).split("=", 1)
        env[k] = v
    assert argv[:2] == ["embedkit", "extract"]
    return argv[1:], env


def fit(run, pairs, cache, out, *extra, model="pal-b"):
    k = ("--K", 2) if model.startswith("pal") else ()
    return run(
        "fit-head", "--model", model, *k, "--pairs", pairs, "--cache", cache, "--encoder", "fake",
        "--out", out, "--hidden-dim", 16, "--epochs", 3, "--no-progress", *extra,
    )  # fmt: skip


@pytest.fixture
def own(tmp_path, run):
    pairs = write(tmp_path / "mine.jsonl", own_pairs())
    r = run("extract", pairs, "--cache", tmp_path / "cache", "--encoder", "fake", "--no-progress")
    assert r.exit_code == 0, r.output
    return pairs, tmp_path / "cache"


# --- a head remembers how it was trained ------------------------------------------------------------------
def test_eval_reuses_the_heads_split_fractions(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "h", "--val-frac", 0.3).exit_code == 0
    stored = json.loads((tmp_path / "h/config.json").read_text())
    assert stored["data_setup"]["split"]["val_frac"] == 0.3
    assert stored["data_setup"]["pairs"][0]["sha256"] and stored["data_setup"]["split_source"] == "drawn"
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert metrics["seen"]["train"]["pairs"] == stored["metrics"]["seen"]["train"]["pairs"]
    assert metrics["seen"]["val"]["pairs"] == stored["metrics"]["seen"]["val"]["pairs"]
    assert metrics["seen"]["val"]["accuracy"] == stored["metrics"]["seen"]["val"]["accuracy"]
    # an explicit, different fraction on the training file would leak training pairs into val: refused
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--val-frac", 0.1)
    assert r.exit_code == 1 and "--val-frac 0.1 (trained with 0.3)" in r.output and "Drop" in r.output


def test_eval_on_a_file_of_new_users_treats_them_as_unseen(run, own, tmp_path):
    pairs, cache = own
    assert (
        fit(run, pairs, cache, tmp_path / "h", "--test-frac", 0.4, "--unseen-user-frac", 0.3).exit_code == 0
    )
    new = write(tmp_path / "new.jsonl", own_pairs(n_users=4, seed=1, user_prefix="new"))
    assert run("extract", new, "--cache", cache, "--encoder", "fake", "--no-progress").exit_code == 0
    r = run("eval", tmp_path / "h", "--pairs", new, "--cache", cache, "--json")
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    assert metrics["unseen"]["users"] == 4 and not metrics["seen"]
    assert "differ from the ones the head was trained on" in r.stderr


def test_unknown_users_in_seen_splits_name_the_real_cause(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "h").exit_code == 0
    rows = [{**r, "split": "test"} for r in own_pairs(n_users=2, seed=1, user_prefix="new")]
    new = write(tmp_path / "new.jsonl", rows)
    assert run("extract", new, "--cache", cache, "--encoder", "fake", "--no-progress").exit_code == 0
    r = run("eval", tmp_path / "h", "--pairs", new, "--cache", cache)
    assert r.exit_code == 1
    assert "unknown to this head" in r.output and "split=fewshot" in r.output
    assert "fit_new_users" not in r.output


def test_responses_mode_is_stored_and_a_conflict_refused(run, tmp_path):
    pairs = write(tmp_path / "p.jsonl", own_pairs())
    cache = tmp_path / "cache"
    r = run("extract", pairs, "--cache", cache, "--encoder", "fake", "--responses", "alone", "--no-progress")
    assert r.exit_code == 0
    assert fit(run, pairs, cache, tmp_path / "h", "--responses", "alone").exit_code == 0
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--json")
    assert r.exit_code == 0, r.output  # in-context texts were never extracted: it must have used "alone"
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--responses", "in-context")
    assert r.exit_code == 1 and "--responses in-context conflicts with the head" in r.output


# --- hints that work when followed ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case",
    ["missing cache dir", "responses alone", "normalized namespace", "texts missing from namespace"],
)
def test_every_suggested_extract_command_works_when_followed(run, tmp_path, case):
    pairs = write(tmp_path / "p.jsonl", own_pairs(n_users=4, per_user=12))
    cache = tmp_path / "cache"
    extra = ("--responses", "alone") if case == "responses alone" else ()
    if case == "normalized namespace":
        other = write(tmp_path / "other.jsonl", [{"text": "something else"}])
        assert run("extract", other, "--cache", cache, "--encoder", "fake", "--normalize").exit_code == 0
    if case == "texts missing from namespace":
        half = write(tmp_path / "half.jsonl", own_pairs(n_users=2, per_user=12))
        assert run("extract", half, "--cache", cache, "--encoder", "fake", "--no-progress").exit_code == 0
    r = fit(run, pairs, cache, tmp_path / "h", *extra, model="bt")
    assert r.exit_code == 1 and "embedkit extract" in r.output
    if case == "missing cache dir":
        assert "does not exist" in r.output and "empty" not in r.output
    argv, env = suggested_command(r.output)
    assert str(pairs) in argv and "..." not in " ".join(argv)
    r2 = run(*argv, "--no-progress", env=env)
    assert r2.exit_code == 0, r2.output
    r3 = fit(run, pairs, cache, tmp_path / "h", *extra, model="bt")
    assert r3.exit_code == 0, r3.output  # the original command now works: no loop


def test_too_few_pairs_says_so_and_what_is_needed(run, tmp_path):
    tsv = tmp_path / "two.tsv"
    tsv.write_text("prompt\tchosen\trejected\nq1\ta\tb\nq2\tc\td\n")
    assert run("extract", tsv, "--cache", tmp_path / "c", "--encoder", "fake").exit_code == 0
    r = fit(run, tsv, tmp_path / "c", tmp_path / "h", model="bt")
    assert r.exit_code == 1
    assert "too few pairs" in r.output and "2 pair(s)" in r.output and "at least ~10 pairs" in r.output
    assert "give rows with split" not in r.output


# --- errors and help ----------------------------------------------------------------------------------------
def test_convert_map_blames_the_bad_target(run, tmp_path):
    src = write(tmp_path / "in.jsonl", [{"q": "Q", "l": "a", "r": "b", "lab": "A"}])
    r = run(
        "convert", "columns", src, "--out", tmp_path / "o.jsonl", "--prompt", "q", "--left", "l",
        "--right", "r", "--label", "lab", "--map", "A=first,B=right",
    )  # fmt: skip
    assert r.exit_code == 1 and "'first' is not a label" in r.output


def test_no_numpy_reprs_in_messages(run, own, tmp_path):
    pairs, cache = own
    assert fit(run, pairs, cache, tmp_path / "h").exit_code == 0
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--shots", "1,99")
    assert r.exit_code == 0 and "no unseen user has 99 few-shot pairs" in r.output
    assert "np." not in r.output


def test_encoder_and_device_names_are_checked(run, tmp_path, monkeypatch):
    texts = write(tmp_path / "t.jsonl", [{"text": "hello"}])
    r = run("extract", texts, "--cache", tmp_path / "c", "--encoder", "./nodir")
    assert r.exit_code == 1 and "no such directory" in r.output and "Hugging Face" not in r.output
    monkeypatch.delenv("EMBEDKIT_MPNET_PATH", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    r = run("extract", texts, "--cache", tmp_path / "c", "--encoder", "mpnet")
    assert r.exit_code == 1 and "$EMBEDKIT_MPNET_PATH" in r.output
    r = run("extract", texts, "--cache", tmp_path / "c", "--encoder", "fake", "--device", "gpu")
    assert r.exit_code == 1 and "unknown device 'gpu'" in r.output
    assert not (tmp_path / "c").exists()


def test_load_torch_on_a_missing_device_is_a_clear_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    from embedkit.cache import EmbeddingCache, text_keys
    from embedkit.encoders.fake import FakeEncoder
    from embedkit.extract import extract

    extract(["a"], tmp_path, FakeEncoder(dim=4), progress=False)
    ns = EmbeddingCache(tmp_path).namespace(encoder="fake")
    assert ns.get(text_keys(["a"])).shape == (1, 4)
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        ns.load_torch(device="cuda")


def test_global_flags_work_after_the_subcommand(run, tmp_path):
    r = run("extract", tmp_path / "missing.jsonl", "--cache", tmp_path / "c", "--debug")
    assert r.exit_code == 1 and r.exception is not None and type(r.exception).__name__ == "InputError"
    r = run("extract", tmp_path / "missing.jsonl", "--cache", tmp_path / "c", "-v")
    assert r.exit_code == 1 and "no such file" in r.output and "Traceback" not in r.output


def _all_commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_option_of_every_command_has_help():
    missing = [
        f"embedkit {' '.join(path)} {param.opts[0]}"
        for path, cmd in _all_commands(cli)
        for param in cmd.params
        if param.param_type_name == "option" and not (param.help or "").strip()
    ]
    assert not missing, missing


def test_eval_help_says_it_uses_the_heads_seed(run):
    r = run("eval", "--help")
    assert "the seed is always the head's" in " ".join(r.output.split())


def test_malformed_json_reports_the_real_column(tmp_path):
    from embedkit.data.readers import iter_records

    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "q", "chosen": "a"\n')
    ((_, err),) = list(iter_records(p))
    assert "column 30, the end of the line" in str(err)


# --- output a person can read -------------------------------------------------------------------------------
def test_json_output_is_strict_and_says_why_a_metric_is_undefined(run, tmp_path):
    rows = [{**r, "prompt": f"{r['prompt']} #{i}"} for i, r in enumerate(own_pairs())]  # one label per pair
    pairs, cache = write(tmp_path / "single.jsonl", rows), tmp_path / "cache"
    assert run("extract", pairs, "--cache", cache, "--encoder", "fake").exit_code == 0
    assert fit(run, pairs, cache, tmp_path / "h", model="mean-var").exit_code == 0
    r = run("eval", tmp_path / "h", "--pairs", pairs, "--cache", cache, "--json")
    assert r.exit_code == 0

    def no_constants(name):
        raise AssertionError(f"invalid JSON constant {name}")

    metrics = json.loads(r.stdout, parse_constant=no_constants)
    assert metrics["test"]["diverging_auroc"] is None
    assert "annotators on both sides" in metrics["test"]["diverging_auroc_undefined"]
    json.loads((tmp_path / "h/config.json").read_text(), parse_constant=no_constants)


def test_metrics_print_once_with_a_legend(run, own, tmp_path):
    pairs, cache = own
    r = fit(run, pairs, cache, tmp_path / "h")
    assert r.exit_code == 0 and r.output.count("seen.test.accuracy") == 1 and "chance is 0.5" in r.output
    r = fit(run, pairs, cache, tmp_path / "bt", model="bt")
    assert "population model" in r.output and "unseen_users.accuracy" in r.output
    assert "fewshot.accuracy" not in r.output


def test_pair_data_repr_is_one_line(own):
    from embedkit.heads import load_pair_data

    pairs, cache = own
    data = load_pair_data([pairs], cache, encoder="fake")
    text = repr(data)
    assert "\n" not in text and text.startswith("PairData(360 pairs, 12 users") and "train=" in text


def test_pal_without_users_warns(run, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "user"} for r in own_pairs()]
    pairs = write(tmp_path / "nouser.jsonl", rows)
    assert run("extract", pairs, "--cache", tmp_path / "c", "--encoder", "fake").exit_code == 0
    r = fit(run, pairs, tmp_path / "c", tmp_path / "h")
    assert r.exit_code == 0 and "no user field" in r.output and "homogeneous model" in r.output


def test_small_data_trains_longer_and_near_chance_is_reported(run, tmp_path):
    from embedkit.heads.config import PALBConfig
    from embedkit.heads.trainer import epoch_budget

    assert epoch_budget(PALBConfig(), 7107) == (60, 6, 1.0)  # persona-sized data: constant rates, wait 6
    assert epoch_budget(PALBConfig(), 20_000) == (60, 6, 1.0)  # long epochs: the same, constant rates
    assert epoch_budget(PALBConfig(), 133) == (1500, 150, 1.0)  # one step per epoch: ~1500 steps, wait 150
    assert epoch_budget(PALBConfig(epochs=5, patience=2, lr_decay=0.5), 133) == (5, 2, 0.5)  # explicit wins
    # every pair twice with opposite labels: no head can beat 0.5 on its own training pairs
    noise = [
        {"user": f"u{i % 4}", "prompt": f"q{i}", "left": f"a{i}", "right": f"b{i}", "label": label,
         "split": "train" if i < 50 else "val"}
        for i in range(60)
        for label in ("left", "right")
    ]  # fmt: skip
    pairs = write(tmp_path / "noise.jsonl", noise)
    assert run("extract", pairs, "--cache", tmp_path / "c", "--encoder", "fake").exit_code == 0
    r = run(
        "fit-head", "--model", "bt", "--pairs", pairs, "--cache", tmp_path / "c", "--encoder", "fake",
        "--out", tmp_path / "h", "--hidden-dim", 8, "--epochs", 3, "--no-progress",
    )  # fmt: skip
    assert r.exit_code == 0 and "training ended near chance" in r.output
