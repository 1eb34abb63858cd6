"""The suite cannot hang unseen: a test that never returns fails after its timeout with its own name, and
the run goes on (pytest-timeout, configured in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_test_that_sleeps_forever_fails_naming_itself(tmp_path):
    (tmp_path / "test_hang.py").write_text(
        "import time\n\n\ndef test_sleeps_forever():\n    time.sleep(10_000)\n\n\ndef test_after():\n    pass\n"
    )
    # the project's own configuration (its timeout method), with the limit lowered to 2 seconds
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-c", str(REPO / "pyproject.toml"),
         "--rootdir", str(tmp_path), "--timeout", "2", str(tmp_path / "test_hang.py")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED" in r.stdout and "test_hang.py::test_sleeps_forever" in r.stdout, r.stdout
    assert "Failed: Timeout (>2.0s) from pytest-timeout" in r.stdout
    assert "1 failed, 1 passed" in r.stdout
