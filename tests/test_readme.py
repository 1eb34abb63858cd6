"""Every code block of the README runs as written after the quickstart, so the README cannot drift.

The quickstart's own commands are read from scripts/quickstart.sh and run first (through click, in a
scratch directory with the repository's data/ linked in); then each ```bash block's embedkit commands and
each ```python block run in document order. Lines marked "(GPU only)" are skipped without a GPU.
"""

import glob
import os
import re
import shlex

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def code_blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def quickstart_commands() -> list[list[str]]:
    cmds = []
    for line in (REPO / "scripts/quickstart.sh").read_text().splitlines():
        if line.startswith("$EK "):
            line = line.replace('"$OUT', '"runs/quickstart').replace("$EK ", "")
            cmds.append(shlex.split(line))
    return cmds


def embedkit_argv(line: str) -> list[str] | None:
    line = line.split("  #")[0].strip()
    for prefix in (".venv/bin/embedkit ", "embedkit "):
        if line.startswith(prefix):
            argv = []
            for a in shlex.split(line[len(prefix) :]):
                argv += sorted(glob.glob(a)) if "*" in a else [a]
            return argv
    return None


@pytest.fixture(scope="module")
def after_quickstart(tmp_path_factory, minilm_encoder):
    work = tmp_path_factory.mktemp("readme")
    os.symlink(REPO / "data", work / "data")
    old = os.getcwd()
    os.chdir(work)
    runner = CliRunner()
    try:
        for argv in quickstart_commands():
            r = runner.invoke(
                cli, [*argv, "--no-progress"] if argv[0] in ("extract", "fit-head", "score") else argv
            )
            assert r.exit_code == 0, (argv, r.output)
        yield runner
    finally:
        os.chdir(old)


def test_quickstart_has_the_main_job():
    steps = [argv[0] for argv in quickstart_commands()]
    assert steps[:4] == ["build", "extract", "fit-head", "score"]


def test_every_readme_code_block_runs(after_quickstart):
    import torch

    blocks = code_blocks((REPO / "README.md").read_text())
    assert any(lang == "python" for lang, _ in blocks) and any(lang == "bash" for lang, _ in blocks)
    namespace: dict = {}
    ran = 0
    for lang, body in blocks:
        if lang == "bash":
            for line in body.splitlines():
                if line.startswith("bash scripts/"):
                    continue  # the set-up commands themselves (the fixture ran the quickstart's steps)
                argv = embedkit_argv(line)
                assert argv is not None, f"README bash line is not an embedkit command: {line!r}"
                r = after_quickstart.invoke(cli, argv)
                assert r.exit_code == 0, (line, r.output)
                ran += 1
        elif lang == "python":
            lines = [
                re.match(r"\s*", ln).group() + "pass  # skipped: GPU only"
                if "(GPU only)" in ln and not torch.cuda.is_available()
                else ln
                for ln in body.splitlines()
            ]
            exec(compile("\n".join(lines), "README.md", "exec"), namespace)  # noqa: S102
            ran += 1
    assert ran >= 6
