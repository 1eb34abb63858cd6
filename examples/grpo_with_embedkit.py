"""Train a policy with TRL's GRPOTrainer on rewards from an embedkit head.

    python examples/grpo_with_embedkit.py HEAD_DIR --cache CACHE --policy MODEL_DIR_OR_ID [--user ID]

The reward function is ``embedkit.load_reward_model(HEAD, cache=CACHE).reward_function(user)``: with
``--user`` every completion is scored for that user (a seen user, or ``prototype:k``); without it the
dataset's ``user`` column picks each row's user (integer or string ids; a user the head does not know
gets the zero-shot weights, with one warning). Completions the cache has never seen are embedded on the
fly with the head's own encoder. The prompts here are a few fixed questions; pass your own dataset with
``prompt`` (and ``user``) columns in your code.
"""

from __future__ import annotations

import argparse


def train(head: str, cache: str, policy: str, out: str, user=None, users=None, steps: int = 2, prompts=None):
    """Run ``steps`` GRPO steps on CPU or GPU; return the trainer (its ``state.log_history`` has the rewards)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    import embedkit

    reward = embedkit.load_reward_model(head, cache=cache).reward_function(user=user)
    prompts = prompts or ["Do you like modern art?", "Is football fun to watch?", "Should museums be free?",
                          "Do you enjoy poetry?"]  # fmt: skip
    rows = {"prompt": prompts}
    if users is not None:  # a per-row user column, passed by TRL to the reward function as `user=`
        rows["user"] = [users[i % len(users)] for i in range(len(prompts))]
    tok = AutoTokenizer.from_pretrained(policy)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(policy)
    cfg = GRPOConfig(
        output_dir=out, max_steps=steps, per_device_train_batch_size=2, num_generations=2,
        max_completion_length=8, learning_rate=1e-6, logging_steps=1, save_strategy="no", report_to=[],
        use_cpu=not __import__("torch").cuda.is_available(), bf16=False, disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=cfg,
        train_dataset=Dataset.from_dict(rows),
        processing_class=tok,
    )
    trainer.train()
    return trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("head")
    ap.add_argument("--cache", required=True)
    ap.add_argument(
        "--policy", required=True, help="a causal LM: a local directory or a Hub id in your HF cache"
    )
    ap.add_argument("--user", default=None)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--out", default="runs/grpo")
    args = ap.parse_args()
    trainer = train(args.head, args.cache, args.policy, args.out, user=args.user, steps=args.steps)
    for row in trainer.state.log_history:
        if "reward" in row:
            print(f"step {row.get('step')}: mean reward {row['reward']:.4f}")


if __name__ == "__main__":
    main()
