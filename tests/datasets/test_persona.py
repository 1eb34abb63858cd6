import json

import pytest

from embedkit.datasets.persona import PersonaConfig, build_persona
from embedkit.errors import InputError
from tests.conftest import PERSONA_DIR

CFG = PersonaConfig(
    k_star=2,
    users_per_persona=3,
    queries_per_user=10,
    queries_per_unseen_user=8,
    fewshot_per_unseen_user=3,
    seed=1,
)


def _agree(name):
    rows = [json.loads(x) for x in (PERSONA_DIR / f"interest-in-{name}.jsonl").read_text().splitlines()]
    return {r["question"] for r in rows if r["answer_matching_behavior"].strip() == "Yes"}


def test_persona_pairs_follow_the_paper(tmp_path):
    s = build_persona(tmp_path, CFG)
    assert s["personas"] == ["art", "literature"] and s["statements"] == 2000
    pairs = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 2 * 3 * 10 + 2 * 3 * 8
    agree = {n: _agree(n) for n in ("art", "literature")}
    for p in pairs:
        assert {p["chosen"], p["rejected"]} == {"Yes", "No"}
        assert (p["chosen"] == "Yes") == (p["prompt"] in agree[p["persona"]])
    seen = [p for p in pairs if p["user"].startswith("seen")]
    unseen = [p for p in pairs if p["user"].startswith("unseen")]
    assert {p["split"] for p in seen} <= {"train", "val", "test"}
    assert sum(p["split"] == "fewshot" for p in unseen) == 2 * 3 * 3
    texts = {json.loads(x)["text"] for x in (tmp_path / "texts.jsonl").read_text().splitlines()}
    for p in pairs:
        assert {p["prompt"], p["prompt"] + "\n" + p["chosen"], p["prompt"] + "\n" + p["rejected"]} <= texts


def test_persona_builder_is_reproducible_and_selectable(tmp_path):
    build_persona(tmp_path / "a", CFG)
    build_persona(tmp_path / "b", CFG)
    assert (tmp_path / "a/pairs.jsonl").read_bytes() == (tmp_path / "b/pairs.jsonl").read_bytes()
    s = build_persona(tmp_path / "c", CFG, personas=["math", "music", "sports"])
    assert s["personas"] == ["math", "music", "sports"] and s["statements"] == 3000
    with pytest.raises(InputError, match="no persona file for 'cooking'.*available: art"):
        build_persona(tmp_path / "d", CFG, personas=["cooking"])
