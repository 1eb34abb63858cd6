"""The documentation site builds (``mkdocs build --strict``: every page, link, anchor and docstring of the
API reference), every page of docs/ is in its navigation, every relative link of the README and the
guides points at a file that exists, and the README stays a front page. The code blocks of the same files
are run by tests/test_readme.py."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def nav_pages(nav) -> list[str]:
    pages = []
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_site_builds_strict(tmp_path):
    """No -q: mkdocs --quiet also silences the warnings that --strict turns into a failure."""
    pytest.importorskip(
        "mkdocs", reason="mkdocs is not installed: the site is not built (the dev extra has it)"
    )
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed: the site is not built")
    site = tmp_path / "site"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(REPO / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    # the API reference is generated from the docstrings, not left empty
    heads = (site / "reference" / "heads" / "index.html").read_text()
    assert 'id="embedkit.heads.api.create_head"' in heads and "registered head" in heads
    assert (
        'id="embedkit.score.api.RewardModel.reward"'
        in (site / "reference" / "score" / "index.html").read_text()
    )


def test_every_docs_page_is_in_the_nav():
    yaml = pytest.importorskip("yaml")
    nav = set(nav_pages(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]))
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert pages - nav == set(), "pages missing from the nav of mkdocs.yml"
    assert nav - pages == set(), "nav entries without a page"


@pytest.mark.parametrize("path", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))])
def test_relative_links_point_at_files(path):
    file = REPO / path if path == "README.md" else REPO / "docs" / path
    broken = []
    for target in LINK.findall(file.read_text()):
        if re.match(r"[a-z]+:|#", target):
            continue  # a URL, or an anchor in the same page (mkdocs checks those of docs/)
        if not (file.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path}: links to missing files: {broken}"


def test_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move the detail into a guide in docs/"
    assert Path(REPO / "docs" / "index.md").exists()
