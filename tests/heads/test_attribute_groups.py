"""The attribute prior's report (embedkit.heads.attribute_groups): users grouped by attribute value, and the
paired comparison of two sets of predictions, against hand-computed values. The report on a fitted head
(``eval --users``): tests/heads/test_attributes.py::test_eval_and_score_with_users."""

import numpy as np
import pytest

from embedkit.data.users import UserAttributes
from embedkit.heads.attribute_groups import _compare, group_labels

ATTRS = UserAttributes(
    ["u1", "u2", "u3", "u4", "u5"],
    [
        {"gender": "f", "age": 20.0, "langs": ("en", "fr")},
        {"gender": "m", "age": 30.0, "langs": ("en",)},
        {"gender": "f", "age": 40.0, "langs": ()},
        {"gender": None, "age": 50.0, "langs": ("fr",)},
        {"gender": "m", "age": None, "langs": None},
    ],
    {"gender": "categorical", "age": "numeric", "langs": "multi"},
)


def test_users_are_grouped_by_value_list_item_and_quantile_bin():
    users = ["u1", "u2", "u3", "u4", "u5", "nobody"]
    g = group_labels(ATTRS, users)
    assert g["gender"] == {"f": ["u1", "u3"], "m": ["u2", "u5"], "(missing)": ["u4", "nobody"]}
    assert g["langs"] == {"en": ["u1", "u2"], "fr": ["u1", "u4"], "(missing)": ["u3", "u5", "nobody"]}
    # quartiles of these users' ages 20, 30, 40, 50: 20, 27.5, 35, 42.5, 50; the largest age in the last bin
    assert g["age"] == {
        "20-27.5": ["u1"], "27.5-35": ["u2"], "35-42.5": ["u3"], "42.5-50": ["u4"], "(missing)": ["u5", "nobody"]
    }  # fmt: skip
    # bins from the seen users' ages (0 and 100: quartiles 0, 25, 50, 75, 100)
    g = group_labels(ATTRS, users, seen_values={"age": np.array([0.0, 100.0])})
    assert g["age"] == {"0-25": ["u1"], "25-50": ["u2", "u3"], "50-75": ["u4"], "(missing)": ["u5", "nobody"]}


class _Rows:
    """Soft-label rows (no label counts): each row counts once, for the side y favours."""

    def __init__(self, y):
        self.y = np.asarray(y, float)
        self.counts = np.zeros((len(y), 5))

    def __len__(self):
        return len(self.y)


def test_the_comparison_is_a_paired_gain_clustered_by_user():
    rows = _Rows([1, 1, 0, 0])
    users = np.array([0, 0, 1, 1])
    d_a = np.array([1.0, -1.0, -1.0, -1.0])  # right, wrong, right, right: 3 of 4
    d_b = np.array([1.0, 1.0, -1.0, -1.0])  # all right
    out = _compare(d_a, d_b, rows, users, 2, "population", "attributes")
    assert out["pairs"] == 4 and out["population"] == 0.75 and out["attributes"] == 1.0
    # gain 1/4; influences (hits_b - hits_a - gain * labels) summed per user / 4: user 0 +1/8, user 1 -1/8;
    # clustered SE sqrt(sum of squares * n / (n - 1)) = sqrt(2 / 64 * 2) = 1/4
    assert out["gain"] == pytest.approx(0.25) and out["gain_se"] == pytest.approx(0.25)
    ties = _Rows([0.5, 0.5])
    ties.counts[:, 2] = 1  # every annotator called it a tie: nothing to compare
    assert _compare(d_a[:2], d_b[:2], ties, users[:2], 1, "a", "b") == {
        "pairs": 2,
        "note": "no pair prefers a side",
    }
