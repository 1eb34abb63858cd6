"""Every code block of the README and of the guides in docs/ runs as written after the quickstart, so the
documentation cannot drift.

The quickstart's own commands are read from scripts/quickstart.sh and run first (through click, in a
scratch directory with the repository's data/ linked in); then, file by file (the README first), each
```bash block's embedkit commands and each ```python block run in document order. Lines marked
"(GPU only)" are skipped without a GPU. A block that cannot run in a test (it needs a GPU, a Ray
cluster, the network, or files this repository does not hold) is preceded by a line
``<!-- not run: REASON -->``; every other block that holds a command runs. A command may not hide in a
block of another language (```text, ```console, a bare fence): those must hold no embedkit or bash command.
"""

import glob
import os
import re
import shlex

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from tests.conftest import REPO

# a fence, its language and body, and the "not run" marker on the line before it, if any
BLOCK = re.compile(
    r"^(?:<!-- not run: (?P<reason>.*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```", re.M | re.S
)
RUN = ("bash", "python")
SET_UP = "bash scripts/"  # the set-up commands: the fixture runs the quickstart's steps instead
COMMAND = re.compile(r"^\s*(\$ )?(\.venv/bin/embedkit|embedkit|bash) ")


def docs_files() -> list[str]:
    """The README, then the guides and reference pages of docs/ (paths relative to the repository)."""
    return ["README.md", *sorted(os.path.relpath(p, REPO) for p in glob.glob(str(REPO / "docs" / "*.md")))]


def code_blocks(text: str) -> list[tuple[str, str, str | None]]:
    """(language, body, the reason it is not run or None) for each fenced block, in document order."""
    return [(m["lang"], m["body"], m["reason"]) for m in BLOCK.finditer(text)]


def runnable_blocks(path: str) -> list[tuple[str, str]]:
    """The blocks the test runs: python blocks, and bash blocks beyond the set-up commands themselves."""
    return [
        (lang, body)
        for lang, body, reason in code_blocks((REPO / path).read_text())
        if reason is None
        and (
            lang == "python"
            or (lang == "bash" and any(not ln.startswith(SET_UP) for ln in body.splitlines()))
        )
    ]


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


def test_readme_has_the_set_up_commands_and_runnable_blocks():
    blocks = code_blocks((REPO / "README.md").read_text())
    assert "bash scripts/quickstart.sh" in blocks[0][1] and "bash scripts/test.sh" in blocks[0][1]
    langs = {lang for lang, _ in runnable_blocks("README.md")}
    assert langs == {"bash", "python"}


def test_blocks_not_run_say_why_and_no_command_hides():
    """A block skipped by the marker says why; a block of another language holds no command."""
    skipped = []
    for path in docs_files():
        for lang, body, reason in code_blocks((REPO / path).read_text()):
            if reason is not None:
                assert len(reason.split()) >= 3, f"{path}: say why the block is not run: {reason!r}"
                skipped.append(path)
            elif lang not in RUN:
                hidden = [ln for ln in body.splitlines() if COMMAND.match(ln)]
                assert not hidden, f"{path}: commands in a ```{lang} block are never run: {hidden}"
    assert skipped, "the marker is used (the Ray, GPU, LeWiDi and RewardBench blocks)"


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in docs_files() if runnable_blocks(p)])
def test_every_code_block_runs(after_quickstart, path):
    import torch

    namespace: dict = {}
    ran = 0
    for lang, body in runnable_blocks(path):
        if lang == "bash":
            for line in body.splitlines():
                if line.startswith(SET_UP):
                    continue
                argv = embedkit_argv(line)
                assert argv is not None, f"{path} bash line is not an embedkit command: {line!r}"
                r = after_quickstart.invoke(cli, argv)
                assert r.exit_code == 0, (path, line, r.output)
                ran += 1
        else:
            lines = [
                re.match(r"\s*", ln).group() + "pass  # skipped: GPU only"
                if "(GPU only)" in ln and not torch.cuda.is_available()
                else ln
                for ln in body.splitlines()
            ]
            exec(compile("\n".join(lines), path, "exec"), namespace)  # noqa: S102
            ran += 1
    assert ran >= 1
