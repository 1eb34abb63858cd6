"""The commands' config dataclasses (``FitConfig``, ``EvalConfig``, ``ScoreConfig``) and the Python workflows
that take them (``fit_head``, ``score_files``): the same result as the command, the same errors; and the
option generator's kinds of fields (repeatable, existing file, stored defaults)."""

import dataclasses
import json

import click
import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.cli.options import config_from, config_options, field_options, split_options
from embedkit.data.splits import SplitConfig
from embedkit.errors import OptionError
from embedkit.heads import load_head
from embedkit.heads.fit import fit_head
from embedkit.heads.run_config import EvalConfig, FitConfig, shot_sizes
from embedkit.options import REQUIRED, opt
from embedkit.score.run import ScoreConfig, score_files


@pytest.fixture(scope="module")
def persona(tmp_path_factory):
    """A tiny persona data set extracted with the fake encoder."""
    root = tmp_path_factory.mktemp("persona")
    runner = CliRunner()
    for args in (
        ["build", "persona", "--out", root / "data", "--users-per-persona", 3, "--queries-per-user", 12,
         "--queries-per-unseen-user", 8, "--fewshot-per-unseen-user", 4],
        ["extract", root / "data/texts.jsonl", "--cache", root / "cache", "--encoder", "fake", "--no-progress"],
    ):  # fmt: skip
        r = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return root


def _run(root, out, model="pal-b", **kw):
    return FitConfig(
        model=model,
        pairs=(str(root / "data/pairs.jsonl"),),
        cache_dir=str(root / "cache"),
        out_dir=str(out),
        encoder="fake",
        progress=False,
        **kw,
    )


def test_fit_head_from_python_is_the_command(persona, tmp_path):
    """fit_head(FitConfig) writes the head fit-head writes: same config, same weights (same seed)."""
    options = {"K": 2, "epochs": 2, "hidden_dim": 16}
    result = fit_head(_run(persona, tmp_path / "py"), options)
    assert result.selection is None and "save" in result.timings
    r = CliRunner().invoke(
        cli,
        ["fit-head", "--model", "pal-b", "--pairs", str(persona / "data/pairs.jsonl"), "--cache",
         str(persona / "cache"), "--encoder", "fake", "--out", str(tmp_path / "cli"), "--K", "2", "--epochs",
         "2", "--hidden-dim", "16", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    py, cl = load_head(tmp_path / "py"), load_head(tmp_path / "cli")
    assert dataclasses.asdict(py.config) == dataclasses.asdict(cl.config)
    assert py.data_setup_.split == cl.data_setup_.split
    for (name, a), (_, b) in zip(
        py.module_.state_dict().items(), cl.module_.state_dict().items(), strict=True
    ):
        np.testing.assert_allclose(a.cpu().numpy(), b.cpu().numpy(), atol=1e-6, err_msg=name)


def test_fit_head_k_auto_and_refusals(persona, tmp_path):
    result = fit_head(_run(persona, tmp_path / "auto", k_max=2, k_repeats=0), {"K": "auto", "epochs": 2})
    assert result.selection is not None and result.head.config.K == result.selection.chosen
    assert (tmp_path / "auto" / "k_selection.json").exists()
    with pytest.raises(OptionError, match="--K auto chooses the prototypes"):
        fit_head(_run(persona, tmp_path / "bt", model="bt"), {"K": "auto"})
    with pytest.raises(OptionError, match="--model bt has no option"):
        fit_head(_run(persona, tmp_path / "bt", model="bt"), {"K": 2})
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        fit_head(_run(persona, tmp_path / "auto"), {"K": 2})
    # the command says the same, as a usage error (exit code 2) naming the option
    r = CliRunner().invoke(
        cli,
        ["fit-head", "--model", "bt", "--K", "auto", "--pairs", str(persona / "data/pairs.jsonl"), "--cache",
         str(persona / "cache"), "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert r.exit_code == 2 and "--K auto chooses the prototypes" in r.output
    assert (
        "Usage: cli fit-head" in r.output
    )  # (CliRunner names the program cli) the library's OptionError, shown as click's usage errors are


def test_score_files_from_python_is_the_command(persona, tmp_path):
    fit_head(_run(persona, tmp_path / "head"), {"K": 2, "epochs": 2})
    data = persona / "data"
    run = ScoreConfig(
        cache_dir=str(persona / "cache"),
        pairs=(
            str(data / "unseen_test.jsonl")
            if (data / "unseen_test.jsonl").exists()
            else str(data / "pairs.jsonl"),
        ),
        out=str(tmp_path / "py.jsonl"),
        progress=False,
    )
    summary = score_files(tmp_path / "head", run)
    r = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "head"), "--cache", run.cache_dir, "--pairs", run.pairs[0], "--out",
         str(tmp_path / "cli.jsonl"), "--no-progress", "--json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cli_summary = json.loads(r.stdout)
    assert summary["rows"] == cli_summary["rows"] and summary["accuracy"] == cli_summary["accuracy"]
    assert (tmp_path / "py.jsonl").read_text() == (tmp_path / "cli.jsonl").read_text()
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        score_files(tmp_path / "head", run)
    with pytest.raises(OptionError, match="exactly one of --pairs or --candidates"):
        score_files(tmp_path / "head", dataclasses.replace(run, candidates=run.pairs, overwrite=True))


def test_eval_config_and_shots():
    assert shot_sizes("1,5,10") == (1, 5, 10)
    for bad in ("1,x", "0,2"):
        with pytest.raises(ValueError):
            shot_sizes(bad)
    given = {"pairs": ("p",), "cache_dir": "c", "shots": "2,4", "device": None, "responses": None}
    cfg = config_from(EvalConfig, dict(given, attributes_file=None, users_id_field="user"))
    assert cfg.shots == (2, 4) and cfg.responses is None  # None: the head's own set-up
    with pytest.raises(click.ClickException, match="--shots: expected integers"):
        config_from(EvalConfig, dict(given, shots="a"))


def test_the_generator_s_kinds_of_fields(tmp_path):
    """Repeatable, existing-file, required and stored-default fields become the options they say."""

    @dataclasses.dataclass(kw_only=True)
    class Demo:
        files: tuple[str, ...] = opt((), "Files.", path="any", multiple=True)
        known: str | None = opt(None, "An existing file.", path="file", exists=True)
        name: str = opt(REQUIRED, "A name.")
        count: int = opt(3, "How many.", min=1)

    seen = {}

    @click.command()
    @config_options(Demo)
    @split_options(stored=True)
    @field_options(flag=opt(False, "A flag."))
    def cmd(**given):
        seen["split"] = {
            k: given.pop(k) for k in ("val_frac", "test_frac", "unseen_user_frac", "fewshot_frac", "by")
        }
        seen["flag"] = given.pop("flag")
        seen["demo"] = config_from(Demo, given)

    there = tmp_path / "there.txt"
    there.write_text("x")
    r = CliRunner().invoke(cmd, ["--files", "a", "--files", "b", "--known", str(there), "--name", "n"])
    assert r.exit_code == 0, r.output
    assert seen["demo"] == Demo(files=("a", "b"), known=str(there), name="n", count=3)
    assert (
        seen["split"] == dict.fromkeys(seen["split"]) and seen["flag"] is False
    )  # stored: None = the head's
    r = CliRunner().invoke(cmd, ["--name", "n", "--known", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = CliRunner().invoke(cmd, ["--name", "n", "--count", "0"])
    assert r.exit_code == 2 and "--count" in r.output
    r = CliRunner().invoke(cmd, ["--name", "n", "--val-frac", "1"])
    assert r.exit_code == 2 and "--val-frac" in r.output  # a share in [0, 1)
    r = CliRunner().invoke(cmd, [])
    assert r.exit_code == 2 and "--name" in r.output


def test_split_config_is_declared_once():
    """The split options of fit-head, eval and the rating converters are SplitConfig's fields."""
    names = {f.name for f in dataclasses.fields(SplitConfig)} - {"seed"}
    for command in ("fit-head", "eval"):
        cmd = cli.get_command(click.Context(cli), command)
        params = {p.name for p in cmd.get_params(click.Context(cmd))}
        assert names <= params, command


@pytest.mark.parametrize(
    "args, missing",
    [
        (["fit-head", "--model", "bt", "--pairs", "p.jsonl", "--out", "o"], "--cache"),
        (["fit-head", "--model", "bt", "--cache", "c", "--out", "o"], "--pairs"),
        (["score", "h", "--cache", "c", "--pairs", "p.jsonl"], "--out"),
        (["eval", "h", "--pairs", "p.jsonl"], "--cache"),
        (["convert", "columns", "in.jsonl", "--out", "o.jsonl", "--left", "a", "--right", "b"], "--prompt"),
    ],
)
def test_a_required_generated_option_is_required(args, missing):
    """A field without a default is a required option: leaving it out is click's usage error naming it (an
    explicit default of None would have let the command run without it)."""
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and f"Missing option '{missing}'" in r.output


def test_build_persona_takes_named_personas(tmp_path):
    """--personas a,b (an option of its own, parsed from its field's declaration) picks those personas."""
    out = tmp_path / "p"
    r = CliRunner().invoke(
        cli,
        ["build", "persona", "--personas", "math, art", "--out", str(out), "--users-per-persona", "2",
         "--queries-per-user", "4", "--queries-per-unseen-user", "4", "--fewshot-per-unseen-user", "2"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert {r["persona"] for r in rows} == {"math", "art"}


def test_python_configs_check_what_the_command_line_checks(tmp_path):
    """Built in Python, the configs check the ranges and choices their options declare (the CLI's click
    types do it there), take one path for a repeatable file option, and a dict for the split."""
    run = FitConfig(model="bt", pairs="p.jsonl", cache_dir="c", out_dir="o", split={"val_frac": 0.3})
    assert run.pairs == ("p.jsonl",) and run.split == SplitConfig(val_frac=0.3)
    with pytest.raises(ValueError, match="--K-max must be >= 1"):
        FitConfig(model="bt", pairs="p", cache_dir="c", out_dir="o", k_max=0)
    with pytest.raises(ValueError, match="--model must be one of"):
        FitConfig(model="nope", pairs="p", cache_dir="c", out_dir="o")
    with pytest.raises(ValueError, match="--val-frac \\+ --test-frac must be < 1"):
        FitConfig(
            model="bt", pairs="p", cache_dir="c", out_dir="o", split={"val_frac": 0.6, "test_frac": 0.5}
        )
    with pytest.raises(ValueError, match="--chunk-size must be >= 1"):
        ScoreConfig(cache_dir="c", pairs="p", out="o.jsonl", chunk_size=0).validate()
    from embedkit.heads.config import PALBConfig

    with pytest.raises(ValueError, match="--temperature must be > 0"):
        PALBConfig(temperature=-1.0).validate()
    with pytest.raises(ValueError, match="--K must be a number, got '2'"):
        PALBConfig(K="2").validate()


def test_bad_combinations_are_usage_errors(persona, tmp_path):
    """Settings that do not go together exit 2 with one line, from the CLI's checks or the library's."""
    pairs, cache = str(persona / "data/pairs.jsonl"), str(persona / "cache")
    base = ["fit-head", "--model", "pal-b", "--pairs", pairs, "--cache", cache, "--encoder", "fake"]
    r = CliRunner().invoke(
        cli, [*base, "--out", str(tmp_path / "x"), "--val-frac", "0.6", "--test-frac", "0.5"]
    )
    assert r.exit_code == 2 and "--val-frac + --test-frac must be < 1" in r.output
    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "x"), "--temperature", "-1"])
    assert r.exit_code != 0 and "--temperature must be > 0" in r.output and "Traceback" not in r.output
    fit_head(_run(persona, tmp_path / "bt", model="bt"), {"epochs": 1})
    r = CliRunner().invoke(
        cli, ["eval", str(tmp_path / "bt"), "--pairs", pairs, "--cache", cache, "--shots", "0"]
    )
    assert r.exit_code == 2 and "--shots: shots must be >= 1" in r.output
    r = CliRunner().invoke(
        cli,
        ["score", str(tmp_path / "bt"), "--cache", cache, "--pairs", pairs, "--out", str(tmp_path / "s.jsonl"),
         "--fewshot-method", "mle"],
    )  # fmt: skip
    assert r.exit_code == 2 and "bt is a population model" in r.output


def test_seed_is_the_head_s_and_the_pairing_s_not_a_split_option(persona, tmp_path):
    """--seed is an option of the head (fit-head) and of the pairing (convert ratings), not of the split
    options generated from SplitConfig (whose seed field is skipped): it must reach them."""
    pairs, cache = str(persona / "data/pairs.jsonl"), str(persona / "cache")
    for seed in (0, 1):
        r = CliRunner().invoke(
            cli,
            ["fit-head", "--model", "pal-b", "--K", "2", "--pairs", pairs, "--cache", cache, "--encoder", "fake",
             "--out", str(tmp_path / f"s{seed}"), "--epochs", "1", "--no-progress", "--seed", str(seed)],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert load_head(tmp_path / f"s{seed}").config.seed == seed
    src = tmp_path / "r.jsonl"
    src.write_text(
        "".join(
            json.dumps({"a": f"a{a}", "i": f"c{i}", "t": f"text {i}", "s": (i * a) % 5}) + "\n"
            for a in range(8)
            for i in range(6)
        )
    )
    splits = []
    for seed in (0, 7):
        out = tmp_path / f"p{seed}.jsonl"
        r = CliRunner().invoke(
            cli,
            ["convert", "ratings", str(src), "--out", str(out), "--user", "a", "--item", "i", "--text", "t",
             "--score", "s", "--seed", str(seed)],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        splits.append([json.loads(line)["split"] for line in out.read_text().splitlines()])
    assert splits[0] != splits[1]  # another seed, another draw of new annotators
