"""Scoring with a trained head: rewards for new users at scale, from cached vectors, and a reward API.

- :class:`RewardModel` (``embedkit.load_reward_model(path, cache=DIR)``): ``reward(prompts, responses, user=...)``
  for texts (the cache first, the head's encoder for what it lacks), ``reward_from_embeddings`` for
  vectors, and ``reward_function(user=...)``, a callable with the signature TRL's GRPO / RLOO trainers
  take in ``reward_funcs``. A user is a seen user's id, ``"prototype:k"`` (a group), a weight vector
  (K,), or a list of few-shot pairs (dicts in the pair format) to fit weights from.
- :func:`fit_users`: weights for many new users at once from few-shot pairs (one batched optimisation),
  kept in a :class:`UserWeights` table that can be saved and passed back.
- :func:`score_pairs_file` / :func:`score_candidates_file`: stream a file of pairs (or candidate lists)
  in chunks, add each row's rewards, and write the result atomically (JSONL or Parquet).

Heads stay free of I/O; this package reads files, the cache and (when allowed) runs the encoder.
"""

from embedkit.score.api import RewardFunction, RewardModel, load_reward_model
from embedkit.score.embed import Embedder, table_to_data
from embedkit.score.files import (
    DEFAULT_CHUNK,
    ScoreSummary,
    read_fewshot,
    score_candidates_file,
    score_pairs_file,
    users_file,
)
from embedkit.score.missing import count_missing, extract_missing_inputs, input_items, missing_inputs_error
from embedkit.score.users import UserWeights, fit_users

__all__ = [
    "DEFAULT_CHUNK",
    "Embedder",
    "RewardFunction",
    "RewardModel",
    "ScoreSummary",
    "UserWeights",
    "count_missing",
    "extract_missing_inputs",
    "input_items",
    "fit_users",
    "missing_inputs_error",
    "load_reward_model",
    "read_fewshot",
    "score_candidates_file",
    "score_pairs_file",
    "table_to_data",
    "users_file",
]
