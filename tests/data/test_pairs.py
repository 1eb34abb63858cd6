import numpy as np
import pytest

from embedkit.data.pairs import join_in_context, read_pairs
from embedkit.data.splits import SplitConfig, assign_splits
from embedkit.errors import InputError


def test_layouts_and_label_kinds(write_jsonl):
    p = write_jsonl(
        "p.jsonl",
        [
            {"user": "u1", "prompt": "Q", "left": "a", "right": "b", "label": "right"},
            {"user": 7, "prompt": "Q", "left": "a", "right": "b", "labels": ["left", 2, "tie", -1]},
            {"prompt": "Q", "left": "a", "right": "b", "soft_label": 0.25, "weight": 2, "margin": 0.5},
        ],
    )
    t = read_pairs([p])
    assert t.a[0] == join_in_context("Q", "a") and t.user.tolist() == ["u1", "7", ""]
    assert t.counts.tolist() == [[0, 1, 0, 0, 0], [0, 1, 1, 1, 1], [0, 0, 0, 0, 0]]
    assert np.allclose(t.y, [0.0, 2.5 / 4, 0.25]) and t.weight.tolist() == [1, 1, 2]
    assert np.isnan(t.margin[0]) and t.margin[2] == 0.5
    c = write_jsonl("c.jsonl", [{"prompt": "Q", "chosen": "a", "rejected": "b", "split": "val"}])
    t = read_pairs([c], responses="alone")
    assert (t.a, t.b, t.y.tolist(), t.split.tolist()) == (["a"], ["b"], [1.0], ["val"])


@pytest.mark.parametrize(
    "row,match,field",
    [
        (
            {"prompt": "Q", "left": "a", "right": "b", "label": "maybe"},
            "not one of left, right, tie",
            "label",
        ),
        ({"prompt": "Q", "left": "a", "right": "b", "labels": [3]}, "integer -2..2", "labels"),
        ({"prompt": "Q", "left": "a", "right": "b", "labels": []}, "non-empty list", "labels"),
        ({"prompt": "Q", "left": "a", "right": "b"}, "exactly one of label", None),
        ({"prompt": "Q", "left": "a", "right": "b", "soft_label": 1.5}, "probability", "soft_label"),
        ({"prompt": "Q", "chosen": "a", "rejected": "b", "weight": "NaN"}, "finite number > 0", "weight"),
        ({"prompt": "Q", "chosen": "a", "rejected": "b", "weight": 0}, "> 0", "weight"),
        ({"prompt": "Q", "chosen": "a", "rejected": "b", "margin": "inf"}, "finite", "margin"),
        ({"prompt": "Q", "chosen": "a", "rejected": "b", "split": "dev"}, "unknown split", "split"),
        ({"prompt": "Q", "chosen": "", "rejected": "b"}, "non-empty string", "chosen"),
        ({"prompt": "Q", "chosen": "a", "rejected": "b", "label": "left"}, "says its label by order", None),
    ],
)
def test_bad_pairs_name_file_line_field(write_jsonl, row, match, field):
    p = write_jsonl(
        "bad.jsonl",
        [{"prompt": "ok", "chosen": "a", "rejected": "b"}, row]
        if "chosen" in row
        else [{"prompt": "ok", "left": "a", "right": "b", "label": "tie"}, row],
    )
    with pytest.raises(InputError, match=match) as e:
        read_pairs([p])
    assert e.value.line == 2 and e.value.field == field and "bad.jsonl:2" in str(e.value)


def _table(write_jsonl, n_users=10, per_user=20, split=None):
    rows = [
        {
            "user": f"u{u}",
            "prompt": f"q{i}",
            "chosen": "y",
            "rejected": "n",
            **({"split": split} if split else {}),
        }
        for u in range(n_users)
        for i in range(per_user)
    ]
    return read_pairs([write_jsonl("s.jsonl", rows)])


def test_splits_are_seeded_disjoint_and_honour_a_given_column(write_jsonl):
    t = _table(write_jsonl)
    s1 = assign_splits(t, SplitConfig(seed=3))
    assert (s1 == assign_splits(t, SplitConfig(seed=3))).all()
    assert not (s1 == assign_splits(t, SplitConfig(seed=4))).all()
    unseen = set(t.user[np.isin(s1, ["fewshot", "unseen_test"])])
    seen = set(t.user[np.isin(s1, ["train", "val", "test"])])
    assert len(unseen) == 2 and not unseen & seen  # 20% of 10 users, never in training
    for u in unseen:
        assert (s1[t.user == u] == "fewshot").sum() == 10  # half of each unseen user's pairs
    assert {"train", "val", "test"} <= set(s1.tolist())
    given = _table(write_jsonl, split="test")
    assert (assign_splits(given) == "test").all()


def test_partial_split_column_is_an_error(write_jsonl):
    p = write_jsonl(
        "m.jsonl",
        [
            {"prompt": "q", "chosen": "y", "rejected": "n", "split": "train"},
            {"prompt": "q2", "chosen": "y", "rejected": "n"},
        ],
    )
    with pytest.raises(InputError, match="m.jsonl:2, field 'split'"):
        assign_splits(read_pairs([p]))


def test_likert_fields(write_jsonl):
    p = write_jsonl(
        "l.jsonl",
        [
            {
                "prompt": "Q",
                "left": "a",
                "right": "b",
                "label": "left",
                "likert_left": [5, 4],
                "likert_right": 2,
            }
        ],
    )
    t = read_pairs([p])
    assert t.likert_a.tolist() == [[0, 0, 0, 1, 1]] and t.likert_b.tolist() == [[0, 1, 0, 0, 0]]
    bad = write_jsonl("lb.jsonl", [{"prompt": "Q", "chosen": "a", "rejected": "b", "likert_chosen": 6}])
    with pytest.raises(InputError, match="lb.jsonl:1, field 'likert_chosen': Likert score 6"):
        read_pairs([bad])


def test_rank_within_group_against_a_loop():
    from embedkit.data.splits import rank_within_group

    groups = np.array(list("abacbbca"), dtype=object).astype(str)
    seen: dict = {}
    expected = []
    for g in groups:
        expected.append(seen.get(g, 0))
        seen[g] = seen.get(g, 0) + 1
    assert rank_within_group(groups).tolist() == expected
