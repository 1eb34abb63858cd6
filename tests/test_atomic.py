"""Outputs under SIGKILL and on a full disk: the real CLI (``python -m embedkit``, a fresh process) is
killed at the crash points of ``embedkit.faults`` inside each output write (``fit-head --out`` first and
with ``--overwrite``, ``score --out`` as JSONL and Parquet, ``index build``, ``convert ratings``,
``convert lewidi``, ``build persona``), or runs under a file-size limit (``RLIMIT_FSIZE``, SIGXFSZ
ignored, so a write fails with EFBIG as on a full disk). After a kill the previous result, if any, is
intact byte for byte, and nothing at the destination is what a reader would take for a result; after a
full disk the command fails with a one-line error naming the file and the cache still verifies."""

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from embedkit.faults import ENV

REPO = Path(__file__).resolve().parents[1]
PAIRS = [
    {"user": f"u{u}", "prompt": f"question {i}", "chosen": f"long answer {i} {u}", "rejected": f"short {i}"}
    for u in range(4)
    for i in range(15)
]


def _embedkit(argv, crash_at=None, fsize=None, timeout=120):
    """``python -m embedkit ARGV`` in a fresh process, killed at ``crash_at`` or with files limited to
    ``fsize`` bytes."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if crash_at:
        env[ENV] = crash_at

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "embedkit", *map(str, argv)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit if fsize else None,
    )


def _tree(path: Path) -> dict:
    """{relative name: sha256} of every file at or under ``path`` ({} if there is nothing)."""
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def _visible(folder: Path) -> set[str]:
    """What a user or a glob sees in ``folder``: the hidden temporaries of a killed write left out."""
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")}


def _ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Pairs, a cache of them (fake encoder), a BT head, a ratings file and a LeWiDi file."""
    d = tmp_path_factory.mktemp("outputs")
    pairs = d / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    cache = d / "cache"
    out = CliRunner().invoke(
        cli,
        [
            "extract",
            str(pairs),
            "--encoder",
            "fake",
            "--cache",
            str(cache),
            "--no-progress",
            "--shard-size",
            "20",
        ],
    )
    assert out.exit_code == 0, out.output
    ratings = d / "ratings.jsonl"
    ratings.write_text(
        "".join(
            json.dumps(
                {"annotator": f"a{a}", "item": f"c{i}", "comment": f"comment {i}", "score": (i + a) % 5 + 1}
            )
            + "\n"
            for a in range(6)
            for i in range(6)
        )
    )
    lewidi = d / "MD_train.json"
    lewidi.write_text(
        json.dumps(
            {
                str(i + 1): {
                    "text": f"tweet {i}",
                    "annotators": "A1,A2,A3",
                    "annotations": ",".join(map(str, [i % 2, 1 - i % 2, int(i >= 4)])),
                    "number of annotations": 3,
                    "split": "train",
                }
                for i in range(8)
            }
        )
    )
    return {
        "dir": d,
        "pairs": pairs,
        "cache": cache,
        "head": d / "head",
        "ratings": ratings,
        "lewidi": lewidi,
    }


@pytest.fixture(scope="module")
def head(world):
    """A BT head on the pairs, for ``score`` (fitted only by the tests that score)."""
    argv = [
        "fit-head",
        "--model",
        "bt",
        "--pairs",
        world["pairs"],
        "--cache",
        world["cache"],
        "--encoder",
        "fake",
    ]
    out = CliRunner().invoke(
        cli, [*map(str, argv), "--out", str(world["head"]), "--epochs", "2", "--seed", "0"]
    )
    assert out.exit_code == 0, out.output
    return world["head"]


def _writes(w):
    """Each output write: (argv without --out/--overwrite, the --out value, what the destination is)."""
    c, head = w["cache"], w["head"]
    ratings_fields = ["--user", "annotator", "--item", "item", "--text", "comment", "--score", "score"]
    return {
        "fit-head": (
            ["fit-head", "--model", "bt", "--pairs", w["pairs"], "--cache", c, "--encoder", "fake"]
            + ["--epochs", "1", "--seed", "1"],
            "head",
        ),
        "score-jsonl": (
            ["score", head, "--cache", c, "--pairs", w["pairs"], "--no-progress"],
            "scored.jsonl",
        ),
        "score-parquet": (
            ["score", head, "--cache", c, "--pairs", w["pairs"], "--no-progress"],
            "scored.parquet",
        ),
        "index-build": (["index", "build", "--cache", c, "--encoder", "fake"], "index"),
        "convert-ratings": (["convert", "ratings", w["ratings"], *ratings_fields], "ratings-pairs.jsonl"),
        "convert-lewidi": (["convert", "lewidi", w["lewidi"]], "lewidi-pairs.jsonl"),
        "build-persona": (["build", "persona", "--users-per-persona", "3"], "persona"),
    }


# (write, crash point): every output point each write passes. file-rows:N dies after the N-th row (a
# Parquet file writes its rows as one batch); build persona writes texts, fewshot, unseen_test, its
# summary and pairs.jsonl last, so file-written:5 is its finished pair file not yet renamed.
KILLS = [
    ("fit-head", "dir-written"),
    ("score-jsonl", "file-rows:2"),
    ("score-jsonl", "file-rows:6"),
    ("score-jsonl", "file-written"),
    ("score-parquet", "file-rows:1"),
    ("score-parquet", "file-written"),
    ("index-build", "dir-written"),
    ("convert-ratings", "file-rows:3"),
    ("convert-ratings", "file-written:2"),
    ("convert-lewidi", "file-rows:2"),
    ("convert-lewidi", "file-written:2"),
    ("build-persona", "file-rows:5"),
    ("build-persona", "file-written:4"),
    ("build-persona", "file-written:5"),
]
FAST = {"convert-ratings": None, "convert-lewidi": None, "build-persona": None}
"""Which kills the default run makes (None: all of that write's); the rest start torch or faiss in a
fresh process (4-7 s each) and are marked slow."""


def _accepted(write: str, dest: Path) -> bool:
    """Whether a reader would take what is at ``dest`` for a finished result of ``write``."""
    if write == "fit-head":
        from embedkit.heads import load_head

        try:
            load_head(dest)
        except Exception:
            return False
        return True
    if write == "index-build":
        from embedkit.index.namespace import NamespaceIndex

        try:
            NamespaceIndex.load(dest)
        except Exception:
            return False
        return True
    if write == "build-persona":
        return (dest / "pairs.jsonl").exists()  # build refuses a folder with pairs.jsonl as finished
    return dest.exists()


@pytest.mark.parametrize("previous", [False, True], ids=["first", "overwrite"])
@pytest.mark.parametrize(
    ("write", "point"),
    [
        pytest.param(
            w, p, id=f"{w}@{p}", marks=() if w in FAST and FAST[w] in (None, p) else pytest.mark.slow
        )
        for w, p in KILLS
    ],
)
def test_a_killed_write_leaves_the_previous_result_or_nothing(
    world, tmp_path, write, point, previous, request
):
    if write.startswith("score"):
        request.getfixturevalue("head")
    argv, name = _writes(world)[write]
    dest = tmp_path / name
    if previous:
        _ok(_embedkit([*argv, "--out", dest]))
        before = _tree(dest)
        assert before and _accepted(write, dest)
    result = _embedkit([*argv, "--out", dest, *(["--overwrite"] if previous else [])], crash_at=point)
    assert result.returncode == -signal.SIGKILL, f"{point} not reached: {result.stdout}{result.stderr}"
    if previous:
        if write == "build-persona":  # the other files are rewritten one by one; the finished one stays
            assert _tree(dest / "pairs.jsonl")[""] == before["pairs.jsonl"]
        else:
            assert _tree(dest) == before, "the previous result changed"
        assert _accepted(write, dest)
    else:
        assert not _accepted(write, dest), f"a killed {write} left {sorted(_visible(tmp_path))}"
        assert name not in _visible(tmp_path) or write == "build-persona"
        _ok(_embedkit([*argv, "--out", dest]))  # and the same command simply runs again
        assert _accepted(write, dest)


# --- a full disk -----------------------------------------------------------------------------------


def _one_line_error(result, names):
    err = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and err, result.stderr
    assert err[-1].startswith("Error: cannot write ") and names in err[-1], err[-1]
    assert "disk full or a file-size limit" in err[-1]


def _verifies(cache):
    out = CliRunner().invoke(cli, ["cache", "verify", "--cache", str(cache)])
    assert out.exit_code == 0 and " 0 corrupt, 0 warning(s)" in out.output, out.output


def test_a_full_disk_during_extract_says_which_file_and_the_cache_still_verifies(world, tmp_path):
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(world["cache"], cache)
    before = _tree(cache)
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({"text": f"a new text {i} " + "z" * i}) + "\n" for i in range(300)))
    argv = ["extract", more, "--encoder", "fake", "--cache", cache, "--no-progress", "--shard-size", "200"]
    result = _embedkit(argv, fsize=20_000)  # the cache's shards are ~10 KB, the new one ~40 KB
    _one_line_error(result, "shard-")
    _verifies(cache)
    assert {k: v for k, v in _tree(cache).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }, "the cache changed"
    _ok(_embedkit(argv))  # with room again, the same command completes it
    _verifies(cache)


@pytest.mark.slow
@pytest.mark.parametrize("write", ["fit-head", "score-jsonl", "score-parquet"])
def test_a_full_disk_during_fit_head_or_score_says_which_file_and_leaves_nothing(
    world, head, tmp_path, write
):
    argv, name = _writes(world)[write]
    before = _tree(world["cache"])
    result = _embedkit([*argv, "--out", tmp_path / name], fsize=2_000)
    _one_line_error(result, str(tmp_path / name))
    assert _visible(tmp_path) == set(), "a half-written output was left"
    assert _tree(world["cache"]) == before
    _verifies(world["cache"])


# --- score's two files change together ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pal_head(world):
    """A PAL-B head (K=2) on the pairs: its score writes a users file beside the scored rows."""
    dest = world["dir"] / "pal-head"
    argv = ["fit-head", "--model", "pal-b", "--K", "2", "--pairs", world["pairs"], "--cache", world["cache"]]
    out = CliRunner().invoke(cli, [*map(str, argv), "--encoder", "fake", "--out", str(dest), "--epochs", "2"])
    assert out.exit_code == 0, out.output
    return dest


def _pair_of(out: Path) -> tuple:
    users = out.with_name(out.stem + ".users.jsonl")
    return tuple(_tree(p).get("") for p in (out, users))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["file-rows:3", "files-written", "files-committed", "files-renamed:1"])
def test_a_killed_score_leaves_the_old_pair_or_commits_the_new_one(world, pal_head, tmp_path, point):
    """``score --overwrite`` killed anywhere in its write: the scored file and its users file are the old
    pair, or (killed after the commit point) the new pair once any embedkit command touches them; never
    a new scored file beside an old users file. A successful run clears every leftover."""
    from embedkit.score.users import UserWeights

    fewer = world["dir"] / "fewer.jsonl"
    fewer.write_text("".join(json.dumps(r) + "\n" for r in PAIRS[::3]))
    argv = ["score", pal_head, "--cache", world["cache"], "--no-progress", "--overwrite"]
    old_out, new_out = tmp_path / "old" / "s.jsonl", tmp_path / "new" / "s.jsonl"
    _ok(_embedkit([*argv, "--pairs", fewer, "--out", old_out]))
    _ok(_embedkit([*argv, "--pairs", world["pairs"], "--out", new_out]))
    old, new = _pair_of(old_out), _pair_of(new_out)
    assert old != new and None not in old + new

    result = _embedkit([*argv, "--pairs", world["pairs"], "--out", old_out], crash_at=point)
    assert result.returncode == -signal.SIGKILL, f"{point} not reached: {result.stdout}{result.stderr}"
    on_disk = _pair_of(old_out)
    committed = point in ("files-committed", "files-renamed:1")
    if not committed:
        assert on_disk == old
    else:
        assert on_disk in (old, (old[0], new[1])), on_disk  # mid-commit: the journal finishes it
        UserWeights.load(old_out.with_name("s.users.jsonl"), K=2)  # a reader of either file finishes it
        assert _pair_of(old_out) == new
    _ok(_embedkit([*argv, "--pairs", world["pairs"], "--out", old_out]))
    assert _pair_of(old_out) == new
    assert _visible(old_out.parent) == {"s.jsonl", "s.users.jsonl"}
    assert {p.name for p in old_out.parent.iterdir()} == {"s.jsonl", "s.users.jsonl"}, "leftovers stayed"


def test_committing_a_set_of_files_in_process(tmp_path):
    """The library side of the same promise, without a process to kill: an error inside the block leaves
    the old files; a file the block does not write is removed (no stale companion); a journal left by a
    kill after the commit point is finished by the next writer."""
    from embedkit.atomic import committing, finish_commit

    a, b = tmp_path / "a.users.jsonl", tmp_path / "a.jsonl"
    a.write_text("old a"), b.write_text("old b")
    with pytest.raises(RuntimeError), committing(a, b) as (ta, tb):
        ta.write_text("new a"), tb.write_text("new b")
        raise RuntimeError("boom")
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "a.users.jsonl"]
    with committing(a, b) as (ta, tb):
        tb.write_text("new b")
    assert not a.exists() and b.read_text() == "new b"
    # a kill after the commit point, before the renames: the journal and the pending files are on disk
    (tmp_path / ".pending-1.a.users.jsonl").write_text("newer a")
    (tmp_path / ".pending-1.a.jsonl").write_text("newer b")
    (tmp_path / ".a.jsonl.commit.json").write_text(
        json.dumps([{"final": "a.users.jsonl", "pending": ".pending-1.a.users.jsonl"},
                    {"final": "a.jsonl", "pending": ".pending-1.a.jsonl"}])
    )  # fmt: skip
    assert finish_commit(b)
    assert (a.read_text(), b.read_text()) == ("newer a", "newer b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "a.users.jsonl"]


# --- folders that cannot be written ------------------------------------------------------------------


@pytest.fixture
def locked(tmp_path):
    """A folder no write can go into: immutable (chattr +i) where this runs as root on a filesystem that
    has the flag, else read-only by mode for a user who is not root; skipped where neither holds."""
    import shutil

    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "kept.txt").write_text("a user's file")
    chattr = shutil.which("chattr")
    if chattr and subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode == 0:
        yield folder
        subprocess.run([chattr, "-i", str(folder)], check=True)
        return
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        folder.chmod(0o755)
        pytest.skip("no way to make a folder unwritable here (root without chattr)")
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize(
    "write",
    ["fit-head", "score-jsonl", "index-build", "convert-ratings", "extract-new-cache", "extract-cache"],
)
def test_an_unwritable_output_folder_is_a_one_line_error(world, head, locked, write):
    """Every command that writes, pointed at a folder it cannot write: exit 1, one line naming the path and
    the cause, no traceback, and the folder as it was."""
    before = _tree(locked)
    if write.startswith("extract"):
        cache = locked / "cache" if write == "extract-new-cache" else locked
        argv, named = (
            ["extract", world["pairs"], "--encoder", "fake", "--cache", cache, "--no-progress"],
            cache,
        )
    else:
        argv, name = _writes(world)[write]
        named = locked / ("sub" if write == "index-build" else "") / name
        argv = [*argv, "--out", named]
    result = CliRunner().invoke(cli, [str(a) for a in argv])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    last = result.output.strip().splitlines()[-1]
    assert (
        last.startswith("Error: cannot write")
        and str(named.parent if write == "convert-ratings" else named) in last
    ), last
    assert "not permitted" in last or "denied" in last or "read-only" in last.lower(), last
    assert "Traceback" not in result.output
    assert _tree(locked) == before


def test_a_successful_replace_removes_what_killed_replaces_left(tmp_path):
    """A killed ``--overwrite`` of a folder output (fit-head, index build) leaves a hidden temporary or the
    old version beside it; the next successful write of the same output removes them, and nothing else."""
    from embedkit.atomic import replacing_dir

    out = tmp_path / "head"
    with replacing_dir(out) as tmp:
        (tmp / "f").write_text("1")
    for left in (".head.ab12_x9z", ".head.old-4242"):
        (tmp_path / left).mkdir()
        (tmp_path / left / "model.safetensors").write_bytes(b"x" * 100)
    (tmp_path / ".headroom.ab12_x9z").mkdir()  # another output's: not ours to remove
    (tmp_path / ".head.notes").write_text("a user's hidden file")
    with replacing_dir(out, overwrite=True) as tmp:
        (tmp / "f").write_text("2")
    assert (out / "f").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".head.notes", ".headroom.ab12_x9z", "head"]


def test_an_error_about_an_input_beside_the_output_is_not_called_a_write_error(tmp_path):
    """Inside a write, an OSError naming another file of the folder (an input being read) passes unchanged;
    one naming the output or its hidden temporary becomes an OutputError naming the output."""
    import errno

    from embedkit.atomic import replacing_file
    from embedkit.errors import OutputError

    out = tmp_path / "a.jsonl"
    with pytest.raises(PermissionError), replacing_file(out):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "data.jsonl"))
    with (
        pytest.raises(OutputError, match=r"cannot write .*a\.jsonl: Permission denied \(in "),
        replacing_file(out) as tmp,
    ):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp))
    assert list(tmp_path.iterdir()) == []
