"""How much a head's attribute prior gives new users, overall and per attribute value: the report behind
``embedkit eval --users`` (``attributes.*``).

For the new (unseen) users of a pair file it compares, on their test pairs, the population point with
each user's attribute point (zero-shot), and few-shot MAP fits whose prior mean is the population point
with those whose mean is the attribute point (at each shot count); each gain comes with a standard error
clustered by user (``paired_gain``, ``mean_gain_error`` of :mod:`embedkit.heads.fewshot_calibration`). Per attribute
value (categorical values, list items, numeric quantile bins) it reports the seen users' mean trained
weights and the prototype they lean to, the new users' mean attribute weights, and the new users'
accuracy under the population point, the attribute point and few-shot. The prior itself:
:mod:`embedkit.heads.attributes`.
"""

from __future__ import annotations

import numpy as np

from embedkit.data.users import UserAttributes
from embedkit.heads.attributes import attribute_weights, fit_new_users_with_attributes, warn_missing
from embedkit.heads.fewshot_calibration import mean_gain_error, paired_gain
from embedkit.heads.metrics import preference_accuracy, preference_hits

QUANTILE_BINS = 4
"""Numeric attributes are reported per group in this many quantile bins."""


def evaluate_attributes(
    head, data, attrs: UserAttributes, shots: list[int] | None = None, *, zero_shot_only: bool = False
) -> dict:
    """New (unseen) users of ``data`` (splits fewshot / unseen_test): zero-shot accuracy with the
    population point vs the attribute point, few-shot accuracy with the population mean vs the attribute
    mean at each shot count, and per attribute value (``groups``). {"prior", "users", "zero_shot",
    "shots", "groups"}; ``zero_shot_only``: stop after "zero_shot" (no few-shot fits, no groups)."""
    from embedkit.data.splits import rank_within_group
    from embedkit.heads.pal_users import DEFAULT_SHOTS

    prior = getattr(head, "attribute_prior_", None)
    out: dict = {
        "prior": prior.summary()
        if prior is not None
        else {"used": False, "reason": "the head has no attribute prior (fit-head without --users)"}
    }
    fewshot, test = data.in_split("fewshot"), data.in_split("unseen_test")
    if not len(test):
        out["note"] = "no unseen users' test pairs (unseen_test) to evaluate"
        return out
    test_users = test.user.astype(str)
    names = np.unique(test_users)
    missing = warn_missing(attrs, names, "new users")
    out["users"] = {"new": len(names), "with_attributes": len(names) - len(missing), "pairs": len(test)}
    zero = head.zero_shot_weights()
    d_pop = head.delta_with_weights(test, zero)
    W_attr = attribute_weights(head, names, attrs)
    index = {u: i for i, u in enumerate(names)}
    row_user = np.array([index[u] for u in test_users], dtype=np.int64)
    d_attr = head.delta_with_weights(test, W_attr[row_user])
    out["zero_shot"] = _compare(d_pop, d_attr, test, row_user, len(names), "population", "attributes")
    if zero_shot_only:
        return out
    fs_users = fewshot.user.astype(str)
    per_user = dict(zip(*np.unique(fs_users, return_counts=True), strict=True)) if len(fewshot) else {}
    if shots is None and per_user:
        counts = np.asarray(list(per_user.values()))
        shots = [s for s in DEFAULT_SHOTS if s <= np.median(counts)] + [int(counts.min())]
    rank = rank_within_group(fs_users) if len(fewshot) else np.zeros(0, np.int64)
    out["shots"] = {}
    for s in sorted(set(shots or [])):
        have = np.array([u for u in names if per_user.get(u, 0) >= s], dtype=str)
        rows = np.isin(test_users, have)
        if not rows.any():
            out["shots"][str(s)] = {"users": 0, "note": f"no new user has {s} few-shot pairs"}
            continue
        sub_fs = fewshot.subset((rank < s) & np.isin(fs_users, have))
        n_pop, W_pop = head.fit_new_users(sub_fs)
        n_att, W_att = fit_new_users_with_attributes(head, sub_fs, attrs)
        sub = test.subset(rows)
        ru = np.array([{u: i for i, u in enumerate(n_pop)}[u] for u in test_users[rows]], dtype=np.int64)
        d1 = head.delta_with_weights(sub, W_pop[ru])
        d2 = head.delta_with_weights(sub, W_att[ru])  # n_att == n_pop: both are np.unique of the same users
        res = _compare(d1, d2, sub, ru, len(n_pop), "population_mean", "attribute_mean")
        res["users"] = len(have)
        res["zero_shot_population"] = preference_accuracy(d_pop[rows], sub.counts, sub.y)
        res["zero_shot_attributes"] = preference_accuracy(d_attr[rows], sub.counts, sub.y)
        out["shots"][str(s)] = res
    # few-shot on all of each user's few-shot pairs (attribute mean), for the groups
    if len(fewshot):
        n_all, W_all = fit_new_users_with_attributes(head, fewshot.subset(np.isin(fs_users, names)), attrs)
        fitted = dict(zip(n_all, W_all, strict=True))
        W_fs = np.stack([fitted.get(u, W_attr[i]) for i, u in enumerate(names)])
    else:
        W_fs = W_attr
    d_fs = head.delta_with_weights(test, W_fs[row_user])
    out["groups"] = attribute_groups(
        head,
        attrs,
        names,
        row_user,
        test,
        {"population": d_pop, "attributes": d_attr, "fewshot": d_fs},
        W_attr,
    )
    return out


def _compare(d_a, d_b, data, users, n_users, name_a: str, name_b: str) -> dict:
    """Accuracy of two sets of deltas on the same rows, and b's gain over a with a user-clustered SE."""
    ha, labels = preference_hits(d_a, data.counts, data.y)
    hb, _ = preference_hits(d_b, data.counts, data.y)
    if not labels.sum():
        return {"pairs": len(data), "note": "no pair prefers a side"}
    gain, infl = paired_gain(hb, ha, labels, users, n_users)
    return {
        "pairs": len(data),
        name_a: float(ha.sum() / labels.sum()),
        name_b: float(hb.sum() / labels.sum()),
        "gain": gain,
        "gain_se": mean_gain_error([infl]),
    }


def group_labels(attrs: UserAttributes, users, seen_values: dict[str, np.ndarray] | None = None) -> dict:
    """{column: {group: [user, ...]}} of ``users``: categorical values, multi items, numerics in
    QUANTILE_BINS quantile bins of ``seen_values[column]`` (default: these users' values); users without
    a value are in the group ``(missing)``."""
    out: dict = {}
    for column, kind in attrs.kinds.items():
        groups: dict[str, list[str]] = {}
        vals = {u: (attrs.get(u) or {}).get(column) for u in users}
        if kind == "numeric":
            ref = np.asarray([v for v in vals.values() if v is not None], float)
            if seen_values is not None and len(seen_values.get(column, ())):
                ref = seen_values[column]
            edges = (
                np.unique(np.quantile(ref, np.linspace(0, 1, QUANTILE_BINS + 1))) if len(ref) else np.zeros(0)
            )
        for u, v in vals.items():
            if v is None:
                keys = ["(missing)"]
            elif kind == "multi":
                keys = list(v) or ["(missing)"]
            elif kind == "numeric":
                j = int(np.clip(np.searchsorted(edges, v, side="right") - 1, 0, max(len(edges) - 2, 0)))
                keys = (
                    [f"{edges[j]:g}-{edges[min(j + 1, len(edges) - 1)]:g}"] if len(edges) else ["(missing)"]
                )
            else:
                keys = [str(v)]
            for k in keys:
                groups.setdefault(k, []).append(u)
        out[column] = groups
    return out


def attribute_groups(head, attrs, names, row_user, test, deltas: dict, W_attr: np.ndarray) -> dict:
    """Per attribute value: seen users (how many, their mean trained weights, the prototype they lean to),
    new users (how many, their mean attribute weights) and the new users' test accuracy under each of
    ``deltas`` (per-row r_A - r_B of ``test``)."""
    seen_users = np.asarray(head.users_, dtype=str)
    seen_W = head.user_weights()
    seen_values = {
        c: np.asarray([v[c] for u in seen_users if (v := attrs.get(u)) and v.get(c) is not None], float)
        for c, k in attrs.kinds.items() if k == "numeric"
    }  # fmt: skip
    seen_groups = group_labels(attrs, seen_users, seen_values)
    new_groups = group_labels(attrs, names, seen_values)
    index = {u: i for i, u in enumerate(names)}
    seen_index = {u: i for i, u in enumerate(seen_users)}
    out: dict = {}
    for column in attrs.kinds:
        out[column] = {}
        keys = list(dict.fromkeys([*seen_groups[column], *new_groups[column]]))
        for key in sorted(keys, key=lambda k: (k == "(missing)", _order(k))):
            su = seen_groups[column].get(key, [])
            nu = new_groups[column].get(key, [])
            g: dict = {"seen_users": len(su), "new_users": len(nu)}
            if su:
                w = seen_W[[seen_index[u] for u in su]].mean(axis=0)
                g["seen_weights"] = [round(float(x), 4) for x in w]
                g["leans_to"] = int(np.argmax(w))
            if nu:
                g["attribute_weights"] = [
                    round(float(x), 4) for x in W_attr[[index[u] for u in nu]].mean(axis=0)
                ]
                rows = np.isin(row_user, [index[u] for u in nu])
                g["pairs"] = int(rows.sum())
                for name, d in deltas.items():
                    g[name] = preference_accuracy(d[rows], test.counts[rows], test.y[rows])
            out[column][key] = g
    return out


def _order(key: str):
    head = key.split("-")[0]
    try:
        return (0, float(head), key)
    except ValueError:
        return (1, 0.0, key)
