"""End to end on image preferences: text prompts, image responses, a real (random-init) open_clip model,
extract -> fit-head --model pal-b -> eval, every head unchanged."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from embedkit.cli.main import cli
from tests.conftest import make_image

pytestmark = pytest.mark.slow


def image_preferences(root, n_images=24, users_per_group=6, pairs_per_user=24, seed=0):
    """Half the images are tinted blue, half red; 'cold' users prefer the bluer image of a pair, 'warm'
    users the redder one. Prompts are captions; responses are image paths relative to the pair file."""
    rng = np.random.default_rng(seed)
    blue = [i % 2 == 0 for i in range(n_images)]
    for i in range(n_images):
        tint = (40, 60, 210) if blue[i] else (210, 50, 40)
        make_image(
            root / f"img/{i:03d}.png", tuple(int(c) for c in rng.normal(tint, 25).clip(0, 255)), seed=i
        )
    rows = []
    for group in ("cold", "warm"):
        for u in range(users_per_group):
            for j in range(pairs_per_user):
                b = int(rng.choice([i for i in range(n_images) if blue[i]]))
                r = int(rng.choice([i for i in range(n_images) if not blue[i]]))
                wins, loses = (b, r) if group == "cold" else (r, b)
                if rng.random() < 0.5:
                    left, right, label = wins, loses, "left"
                else:
                    left, right, label = loses, wins, "right"
                rows.append(
                    {
                        "user": f"{group}-{u}",
                        "prompt": f"a picture, take {j % 6}",
                        "left": f"img/{left:03d}.png",
                        "right": f"img/{right:03d}.png",
                        "label": label,
                    }
                )
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "pairs.jsonl"


def test_image_pairs_extract_fit_eval(tiny_clip_checkpoint, tmp_path):
    pairs = image_preferences(tmp_path / "prefs")
    spec = f"open_clip:ViT-S-32:{tiny_clip_checkpoint}"
    runner = CliRunner()
    r = runner.invoke(
        cli, ["extract", str(pairs), "--cache", str(tmp_path / "c"), "--encoder", spec, "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert "(6 texts + 24 images)" in r.output
    r = runner.invoke(
        cli,
        ["fit-head", "--model", "pal-b", "--K", "2", "--pairs", str(pairs), "--cache", str(tmp_path / "c"),
         "--encoder", "open_clip", "--out", str(tmp_path / "head"), "--hidden-dim", "64", "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    setup = json.loads((tmp_path / "head/config.json").read_text())["data_setup"]
    assert setup["responses"] == "images"
    r = runner.invoke(
        cli, ["eval", str(tmp_path / "head"), "--pairs", str(pairs), "--cache", str(tmp_path / "c"), "--json"]
    )
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout)
    # two colour tastes, random-init CLIP features that still carry colour: PAL-B K=2 separates them
    assert metrics["seen"]["test"]["accuracy"] >= 0.8
    for model in ("bt", "mean-var"):  # population heads run unchanged on the same cache
        r = runner.invoke(
            cli,
            ["fit-head", "--model", model, "--pairs", str(pairs), "--cache", str(tmp_path / "c"), "--encoder",
             "open_clip", "--out", str(tmp_path / model), "--hidden-dim", "32", "--epochs", "5", "--no-progress"],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
