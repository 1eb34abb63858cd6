"""The model card a saved head carries: Hugging Face Hub metadata that huggingface_hub parses back."""

import dataclasses

import pytest

from embedkit.heads import create_head, load_head
from embedkit.heads.card import hub_id_of, result_metrics
from embedkit.heads.metrics import json_ready
from tests.heads.conftest import FP, planted

SMALL = dict(hidden_dim=16, epochs=2, patience=2, device="cpu")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = planted("b", users_per_group=4, pairs_per_user=30, unseen_per_group=2)[0]
    data.fingerprint = dataclasses.replace(FP, model="sentence-transformers/all-MiniLM-L6-v2")
    head = create_head("pal-b", K=2, **SMALL).fit(data, progress=False)
    path = head.save(tmp_path_factory.mktemp("card") / "head", card_data={"datasets": ["org/prefs"]})
    return head, path


def test_model_card_parses_with_huggingface_hub(saved):
    from huggingface_hub import ModelCard

    head, path = saved
    card = ModelCard.load(path / "README.md")
    assert card.data.library_name == "embedkit"
    assert {"embedkit", "reward-model", "embedkit-pal-b", "encoder-fake"} <= set(card.data.tags)
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.datasets == ["org/prefs"]
    # the test metrics come back as model-index results, with the values the head holds
    results = {r.metric_name: r for r in card.data.eval_results}
    test = results["seen.test.accuracy"]
    assert (
        test.metric_type == "accuracy" and test.dataset_split == "test" and test.dataset_type == "org/prefs"
    )
    assert test.metric_value == pytest.approx(head.metrics_["seen"]["test"]["accuracy"], abs=1e-6)
    assert results["unseen.shots.20.accuracy"].metric_value == pytest.approx(
        json_ready(head.metrics_)["unseen"]["shots"]["20"]["accuracy"], abs=1e-6
    )
    assert not any(name.startswith(("seen.train", "seen.val", "item_overlap")) for name in results)
    # the body is still the human-readable card
    assert "# embedkit pal-b reward head" in card.text and head.fingerprint_.namespace in card.text


def test_card_metadata_round_trips_through_model_card_data(saved):
    """ModelCard.validate() posts the card to the Hub's /api/validate-yaml (network), so offline the
    metadata is checked by rebuilding it with ModelCardData and comparing."""
    from huggingface_hub import ModelCard, ModelCardData

    _, path = saved
    data = ModelCard.load(path / "README.md").data
    again = ModelCardData(**data.to_dict())
    assert again.to_dict() == data.to_dict()
    assert again.to_dict()["model-index"][0]["name"] == "embedkit pal-b head"


def test_loaded_head_writes_the_same_card(saved, tmp_path):
    head, path = saved
    again = load_head(path).save(tmp_path / "again", card_data={"datasets": ["org/prefs"]})
    strip = lambda text: text.split("created_at")[0]  # noqa: E731
    assert strip((again / "README.md").read_text()) == strip((path / "README.md").read_text())


def test_base_model_only_for_hub_ids():
    assert hub_id_of(dataclasses.replace(FP, model="org/name")) == "org/name"
    assert hub_id_of(dataclasses.replace(FP, model="hf-hub:laion/CLIP-ViT-B-32")) == "laion/CLIP-ViT-B-32"
    for local in ("my-model-dir", "ViT-S-32", "/abs/path", "./rel/dir", "a/b/c"):
        assert hub_id_of(dataclasses.replace(FP, model=local)) is None


def test_result_metrics_keep_held_out_finite_numbers():
    metrics = {
        "train": {"accuracy": 0.9},
        "test": {"accuracy": 0.7, "pairs": 10, "nll": float("nan")},
        "unseen_users": {"accuracy": 0.6},
        "item_overlap": {"test": {"any_item_in_train": 0.5}},
    }
    assert result_metrics(metrics) == [("test.accuracy", 0.7), ("unseen_users.accuracy", 0.6)]
