"""How much annotators agree on the pairs they share: the share of tie labels and Krippendorff's alpha.

A preference pair file labels item pairs per user. When the same item pair (same prompt, same two
responses, in either order) is labelled by several users, their outcomes (the first item preferred, a
tie, the second preferred) say how reproducible a preference is at all: if people who see the same pair
disagree as often as chance, no model of "the population" can rank it, and any gain must come from
modelling who is asking.

Krippendorff's alpha (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), nominal, from the
values each unit (item pair) received, ``n_uc`` = how many labels of unit u have value c:

    o_cc  = sum_u n_uc (n_uc - 1) / (n_u - 1)          (coincidences within units; units with n_u >= 2)
    n_c   = sum_u n_uc,  n = sum_c n_c
    alpha = 1 - (n - 1) (n - sum_c o_cc) / (n^2 - sum_c n_c^2)                                    (eq. 1)

1 is perfect agreement, 0 agreement at chance level (the labels' own frequencies), below 0 systematic
disagreement. A unit with a single label carries no information about agreement and is left out.
"""

from __future__ import annotations

import numpy as np

OUTCOMES = ("first", "tie", "second")
"""The values of an item pair's label in its canonical orientation (items sorted)."""


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Nominal Krippendorff's alpha, eq. (1), from per-unit value counts ``counts`` (U, C): the number of
    labels unit u received with value c. Units with fewer than 2 labels are left out. Returns nan when no
    unit has 2 labels, or when every label has the same value (no variation: alpha is undefined)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError(f"expected value counts of shape (units, values), got shape {counts.shape}")
    n_u = counts.sum(axis=1)  # (U,)
    counts = counts[n_u >= 2]
    n_u = n_u[n_u >= 2]
    if not len(counts):
        return float("nan")
    o_cc = (counts * (counts - 1) / (n_u - 1)[:, None]).sum(axis=0)  # (C,) coincidences of equal values
    n_c = counts.sum(axis=0)  # (C,)
    n = n_c.sum()
    expected = n**2 - (n_c**2).sum()
    if expected <= 0:
        return float("nan")
    return float(1 - (n - 1) * (n - o_cc.sum()) / expected)


def pair_outcome_counts(
    prompt: np.ndarray, a: np.ndarray, b: np.ndarray, label_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The labels each item pair received, in the pair's canonical orientation (a pair and its mirror
    image are one unit). ``prompt``, ``a``, ``b``: (n,) ids of each row's prompt and two responses (any
    comparable values: texts or cache rows); ``label_counts`` (n, 5): each row's labels per bin of
    ``embedkit.data.pairs.LABEL_BINS`` (B>>A, B>A, tie, A>B, A>>B; a per-user row has one label, a
    multi-annotator row one per annotator). Returns ((U, 3) counts of OUTCOMES per unit, (n,) the unit of
    each row)."""
    n = len(a)
    if not n:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    keys = np.concatenate([np.asarray(a), np.asarray(b)])
    _, code = np.unique(keys.astype(str), return_inverse=True)
    ca, cb = code[:n], code[n:]
    _, pc = np.unique(np.asarray(prompt).astype(str), return_inverse=True)
    swap = ca > cb
    lc = np.asarray(label_counts, dtype=np.float64)
    a_wins, tie, b_wins = lc[:, 3] + lc[:, 4], lc[:, 2], lc[:, 0] + lc[:, 1]
    first = np.where(swap, b_wins, a_wins)
    second = np.where(swap, a_wins, b_wins)
    key = np.stack([pc.reshape(-1), np.minimum(ca, cb), np.maximum(ca, cb)], axis=1)
    _, unit = np.unique(key, axis=0, return_inverse=True)
    unit = unit.reshape(-1)
    out = np.zeros((int(unit.max()) + 1, 3))
    np.add.at(out, unit, np.stack([first, tie, second], axis=1))
    return out, unit


def tie_share(label_counts: np.ndarray) -> dict:
    """Ties among the labels of a pair file: ``pairs`` (rows), ``tie_pairs`` (rows all of whose labels
    are ties), ``labels`` and ``tie_labels`` (over every label of every row), and the two shares.
    ``label_counts`` (n, 5) as in :func:`pair_outcome_counts`; soft-label rows (no counts) count as
    neither labels nor ties."""
    lc = np.asarray(label_counts, dtype=np.float64)
    total = lc.sum(axis=1)
    labelled = total > 0
    tie_rows = labelled & (lc[:, 2] == total)
    labels, ties = float(total.sum()), float(lc[:, 2].sum())
    return {
        "pairs": int(labelled.sum()),
        "tie_pairs": int(tie_rows.sum()),
        "share_of_pairs": float(tie_rows.sum() / labelled.sum()) if labelled.any() else float("nan"),
        "labels": int(labels),
        "tie_labels": int(ties),
        "share_of_labels": ties / labels if labels else float("nan"),
    }


def agreement(prompt: np.ndarray, a: np.ndarray, b: np.ndarray, label_counts: np.ndarray) -> dict:
    """Inter-annotator agreement of a pair file on the item pairs labelled more than once: how many such
    pairs there are (``units``) and how many labels they hold, the share of them on which every label
    agrees, and nominal Krippendorff's alpha over OUTCOMES (nan with no repeated pair)."""
    counts, _ = pair_outcome_counts(prompt, a, b, label_counts)
    n_u = counts.sum(axis=1)
    rep = counts[n_u >= 2]
    return {
        "units": int(len(rep)),
        "labels": int(rep.sum()),
        "units_all_agree": float((rep.max(axis=1) == rep.sum(axis=1)).mean()) if len(rep) else float("nan"),
        "alpha_nominal": krippendorff_alpha_nominal(counts),
        "values": list(OUTCOMES),
    }
