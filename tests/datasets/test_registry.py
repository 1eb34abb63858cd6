"""The data set registry is the one list of ``embedkit convert`` / ``embedkit build`` commands: every
entry meets the same contract (its function and config resolve, its command is generated with one option
per config field, an unknown name lists the valid ones)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.datasets.registry import DATASETS, dataset_entry, datasets_of
from embedkit.errors import UnknownNameError
from embedkit.options import cli_name
from tests.toy_plugins import TOY_DATASET

NAMES = [*sorted(DATASETS.builtin), TOY_DATASET]  # the built-in data sets and a throw-away plugin's


def _command(entry) -> click.Command:
    group = cli.get_command(click.Context(cli), entry.command)
    return group.get_command(click.Context(group), entry.name)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_meets_the_contract(name):  # the toy's plugin: tests/conftest.py
    entry = dataset_entry(name)
    assert callable(entry.load()) and entry.help.strip()
    cmd = _command(entry)
    assert cmd is not None and cmd.name == name
    options = {o for p in cmd.params for o in p.opts}
    cfg = entry.load_config()
    if cfg is not None:
        for f in dataclasses.fields(cfg):
            assert f.metadata.get("help"), f"{cfg.__name__}.{f.name} has no help text"
            if f.name not in entry.skip:
                assert cli_name(f) in options, f"{name}: no option for {cfg.__name__}.{f.name}"
    assert "--out" in options and "--overwrite" in options
    r = CliRunner().invoke(cli, [entry.command, name, "--help"])
    assert r.exit_code == 0 and "--out" in r.output


@pytest.mark.parametrize("command", ["convert", "build"])
def test_the_groups_list_exactly_the_registered_entries(command):
    group = cli.get_command(click.Context(cli), command)
    assert group.list_commands(click.Context(group)) == sorted(datasets_of(command))


def test_unknown_data_set_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="did you mean 'persona'"):
        dataset_entry("persoan")


def test_the_registry_and_the_generated_help_import_no_torch():
    code = (
        "import sys; from click.testing import CliRunner; from embedkit.cli.main import cli; "
        "r = CliRunner().invoke(cli, ['build', 'synthetic', '--help']); assert r.exit_code == 0, r.output; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_plugin_converter_runs_end_to_end(toy_plugins, tmp_path):
    """The toy converter, registered only through an entry point, is an `embedkit convert` command that
    writes a pair file the pair reader takes, and names file and line of a bad row."""
    from embedkit.data.pairs import read_pairs

    src = tmp_path / "in.tsv"
    src.write_text("Which?\tyes\tno\nWhich again?\tthis\tthat\n")
    out = tmp_path / "pairs.jsonl"
    r = CliRunner().invoke(cli, ["convert", TOY_DATASET, str(src), "--out", str(out), "--user", "u1"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"wrote 2 pairs to {out}"
    pairs = read_pairs([out])
    assert list(pairs.user) == ["u1", "u1"] and pairs.prompt == ["Which?", "Which again?"]
    src.write_text("Which?\tyes\tno\nbroken line\n")
    r = CliRunner().invoke(cli, ["convert", TOY_DATASET, str(src), "--out", str(out), "--overwrite"])
    assert r.exit_code == 1 and "in.tsv:2" in r.output and "3 tab-separated fields" in r.output, r.output
