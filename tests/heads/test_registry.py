"""The head registry is the one list of heads: every entry meets the head contract, and the API, the
package exports and fit-head's options come from it."""

import dataclasses
import subprocess
import sys

import pytest

import embedkit.heads
from embedkit.errors import UnknownNameError
from embedkit.heads.registry import HEADS, config_class, head_entry
from tests.toy_plugins import TOY_HEAD

NAMES = [*sorted(HEADS.builtin), TOY_HEAD]  # the built-in heads and a throw-away plugin's


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_names_its_class_and_config(name):  # the toy's plugin: tests/conftest.py
    entry = HEADS[name]
    cls = entry.load()
    assert cls.name == name
    assert cls.Config is entry.load_config() is config_class(name)
    if name in HEADS.builtin:
        assert getattr(embedkit.heads, cls.__name__) is cls  # exported by the package
    assert embedkit.heads.head_class(name) is cls
    for f in dataclasses.fields(cls.Config):  # fit-head's options and --help come from these
        assert f.metadata.get("help"), f"{cls.Config.__name__}.{f.name} has no help text"


def test_fit_head_offers_exactly_the_registered_heads():
    from embedkit.cli.heads import fit_head_command

    model = next(p for p in fit_head_command.params if p.name == "model")
    assert list(model.type.choices) == list(HEADS.builtin)


def test_unknown_head_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="pal-b"):
        head_entry("pal-c")


def test_the_registry_and_the_cli_options_import_no_torch():
    code = "import sys, embedkit.heads.registry, embedkit.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
