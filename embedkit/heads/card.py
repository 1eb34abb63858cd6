"""A head's model card: ``README.md`` with the YAML metadata block the Hugging Face Hub reads.

The metadata is built with ``huggingface_hub.ModelCardData`` (so ``huggingface_hub.ModelCard.load`` parses
it back): ``library_name: embedkit``, tags, the encoder as ``base_model`` where the fingerprint names a
Hub id, datasets where the caller names them, and the test metrics as ``model-index`` results. The body is
the human-readable card: encoder fingerprint, data, config and metrics.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from embedkit.fingerprint import Fingerprint
from embedkit.heads.metrics import json_ready

LIBRARY_NAME = "embedkit"
TASK_TYPE = "text-ranking"
"""The Hub task the results are filed under: a reward head ranks responses by preference."""
MAX_RESULTS = 24
"""At most this many metrics go into ``model-index`` (all of them stay in the card's body)."""
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_RESULT_SPLITS = ("seen.test", "test", "unseen", "unseen_users")
"""Metric paths filed as results: held-out pairs only (training and validation numbers stay in the body)."""
_SKIP = {"per_user", "by_shots", "item_overlap", "by"}


def hub_id_of(fingerprint: Fingerprint) -> str | None:
    """The encoder's Hub id (``org/name``), when the fingerprint's model is one; else None (a local
    directory, an open_clip architecture, synthetic vectors)."""
    model = fingerprint.model.removeprefix("hf-hub:")
    return model if _HUB_ID.match(model) else None


def card_metadata(head, extra: Mapping | None = None):
    """``huggingface_hub.ModelCardData`` of a fitted head; ``extra`` (e.g. ``datasets``, ``license``,
    ``base_model``) is merged over what the head knows."""
    from huggingface_hub import EvalResult, ModelCardData

    fp = head.fingerprint_
    fields = {
        "library_name": LIBRARY_NAME,
        "tags": ["embedkit", "reward-model", f"embedkit-{head.name}", f"encoder-{fp.encoder}"],
        "base_model": hub_id_of(fp),
        "model_name": f"embedkit {head.name} head",
        **dict(extra or {}),
    }
    setup = head.data_setup_
    data_name = ", ".join(p["file"] for p in setup.pairs) if setup and setup.pairs else "pairs"
    datasets = fields.get("datasets")
    data_type = (datasets if isinstance(datasets, str) else (datasets or ["pairs"])[0]) or "pairs"
    results = [
        EvalResult(
            task_type=TASK_TYPE,
            task_name="pairwise preference prediction",
            dataset_type=data_type,
            dataset_name=data_name,
            dataset_split=path.split(".", 2)[1] if path.startswith("seen.") else path.split(".", 1)[0],
            metric_type=_metric_type(path),
            metric_name=path,
            metric_value=round(value, 6),
        )
        for path, value in result_metrics(head.metrics_)
    ]
    return ModelCardData(eval_results=results or None, **{k: v for k, v in fields.items() if v is not None})


def _metric_type(path: str) -> str:
    """The Hub metric id of a metric path: PAL's zero-shot numbers are accuracies too."""
    last = path.rsplit(".", 1)[-1]
    return "accuracy" if last == "zero_shot" else last


def result_metrics(metrics: dict) -> list[tuple[str, float]]:
    """(dotted path, value) of the held-out metrics (test, unseen users), in the metrics' order."""
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in _SKIP:
                    walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, float) and math.isfinite(node) and path.startswith(_RESULT_SPLITS):
            out.append((path, node))

    walk(json_ready(metrics), "")
    return out[:MAX_RESULTS]


def model_card(head, extra: Mapping | None = None) -> str:
    """The ``README.md`` of a saved head: the YAML metadata block, then the card's body."""
    from huggingface_hub import ModelCard

    body = _body(head)
    card = ModelCard(f"---\n{card_metadata(head, extra).to_yaml()}\n---\n\n{body}")
    return str(card)


def _body(head) -> str:
    fp = head.fingerprint_
    hist = head.history_
    lines = [
        f"# embedkit {head.name} reward head",
        "",
        f"- encoder: {fp.describe()} (namespace `{fp.namespace}`)",
        f"- input dim: {head.input_dim_}",
        f"- trained: {hist.get('epochs_run', '?')} epochs, best validation "
        f"{head.val_metric} {hist.get('best_val', float('nan')):.4f} at epoch {hist.get('best_epoch', '?')}",
        f"- data: {', '.join(f'{k}={v}' for k, v in head.data_info_.items())}",
        *_setup_lines(head.data_setup_),
        "",
        "## Use",
        "",
        "```python",
        "import embedkit",
        "",
        'model = embedkit.load_reward_model("ORG/NAME", cache="CACHE")  # a Hub id or this folder',
        "```",
        "",
        "Files: config.json, model.safetensors (no pickle). The head takes embeddings of exactly the "
        f"encoder above: `embedkit extract ... --cache CACHE` with the same options (namespace "
        f"`{fp.namespace}`).",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(head.config.to_dict(), indent=1),
        "```",
        "",
        "## Metrics",
        "",
        "```json",
        json.dumps(json_ready(head.metrics_), indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def _setup_lines(setup) -> list[str]:
    if setup is None:
        return []
    files = ", ".join(f"{p['file']} (sha256 {p['sha256'][:12]}, {p['rows']} rows)" for p in setup.pairs)
    splits = (
        "from the files' split column"
        if setup.split_source == "file"
        else "drawn with " + ", ".join(f"{k}={v}" for k, v in setup.split.items())
    )
    return [f"- pairs: {files}", f"- responses: {setup.responses}; splits {splits}"]
