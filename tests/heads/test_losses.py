"""Every loss against a hand-computed value; gradient checks of the mean-variance likelihoods."""

import math

import numpy as np
import torch

from embedkit.data.pairs import beyond_binary_margin
from embedkit.heads.bt import bt_loss
from embedkit.heads.mean_var import bin_probabilities, independent_nll_loss, kl_loss
from embedkit.heads.pal import PALAHead, PALBHead


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_bt_loss_with_margin_by_hand():
    delta = torch.tensor([1.0, -0.5, 0.2])
    y = torch.tensor([1.0, 0.0, 0.7])
    m = torch.tensor([0.5, 0.0, 0.2])
    w = torch.tensor([1.0, 2.0, 1.0])
    rows = [
        -math.log(sig(1.0 - 0.5)),  # chosen = A: -log s(r_A - r_B - m)
        -math.log(sig(0.5 - 0.0)),  # chosen = B: -log s(r_B - r_A - m)
        0.7 * -math.log(sig(0.2 - 0.2)) + 0.3 * -math.log(sig(-0.2 - 0.2)),
    ]  # soft label
    expected = (rows[0] + 2 * rows[1] + rows[2]) / 4
    assert math.isclose(float(bt_loss(delta, y, m, w)), expected, rel_tol=1e-6)


def test_beyond_binary_margin_eq3():
    counts = np.array(
        [[0, 3, 0, 7, 0], [0, 0, 0, 0, 10], [0, 5, 0, 5, 0], [0, 0, 0, 0, 0], [0, 1, 2, 1, 0]], float
    )
    m = beyond_binary_margin(counts)
    assert np.allclose(m[:3], [abs(7 - 5) / 5, 1.0, 0.0]) and np.isnan(m[3])
    assert math.isclose(m[4], 0.0)  # ties count as half a vote each way


def test_pal_logistic_and_hinge_losses_by_hand():
    delta = torch.tensor([2.0, -1.0, 0.3])
    y = torch.tensor([1.0, 1.0, 0.5])
    w = torch.ones(3)
    logistic = PALBHead(K=1)._rows_loss(delta, y, w)
    expected = (
        -math.log(sig(2.0)) - math.log(sig(-1.0)) + (-0.5 * math.log(sig(0.3)) - 0.5 * math.log(sig(-0.3)))
    ) / 3
    assert math.isclose(float(logistic), expected, rel_tol=1e-6)
    hinge = PALAHead(K=1, loss="hinge")._rows_loss(delta, y, w)
    assert math.isclose(float(hinge), (max(0, 1 - 2.0) + max(0, 1 + 1.0) + 0) / 3, rel_tol=1e-6)


def test_bin_probabilities_by_hand():
    mean, std = 0.7, 1.3
    cdf = [sig((t - mean) / std) for t in (-1.5, -0.5, 0.5, 1.5)]
    raw = [cdf[0], cdf[1] - cdf[0], cdf[2] - cdf[1], cdf[3] - cdf[2], 1 - cdf[3]]
    expected = [(p + 0.05) / 1.25 for p in raw]
    got = bin_probabilities(torch.tensor([mean]), torch.tensor([std]), 0.05)[0]
    assert np.allclose(got.numpy(), expected, atol=1e-6)
    assert math.isclose(float(got.sum()), 1.0, rel_tol=1e-6)


def test_kl_loss_by_hand_with_correlation():
    mu_a, s_a, mu_b, s_b = 1.0, 0.6, -0.2, 0.9
    counts = np.array([0, 1, 2, 4, 1], float)
    eta = 0.5
    rho = eta * 2 / 8
    std = math.sqrt(s_a**2 + s_b**2 - 2 * rho * s_a * s_b)
    p = bin_probabilities(torch.tensor([mu_a - mu_b]), torch.tensor([std]), 0.05)[0].numpy()
    target = counts / counts.sum()
    expected = sum(t * math.log(t / q) for t, q in zip(target, p, strict=True) if t > 0)
    got = kl_loss(
        torch.tensor([mu_a]),
        torch.tensor([s_a]),
        torch.tensor([mu_b]),
        torch.tensor([s_b]),
        torch.tensor(counts[None]),
        eta,
        0.05,
    )
    assert math.isclose(float(got), expected, rel_tol=1e-5)


def test_independent_nll_by_hand():
    mu_a, s_a, mu_b, s_b = 0.4, 0.5, 0.1, 0.7
    z = (mu_a - mu_b) / math.sqrt(s_a**2 + s_b**2)
    phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    counts = np.array([1, 1, 5, 3, 0], float)  # 3 prefer A, 2 prefer B, ties ignored
    expected = -(3 * math.log(phi) + 2 * math.log(1 - phi)) / 5
    got = independent_nll_loss(
        torch.tensor([mu_a]),
        torch.tensor([s_a]),
        torch.tensor([mu_b]),
        torch.tensor([s_b]),
        torch.tensor(counts[None]),
    )
    assert math.isclose(float(got), expected, rel_tol=1e-6)


def test_mean_variance_likelihoods_pass_gradcheck():
    g = torch.Generator().manual_seed(0)
    mu_a, mu_b = (torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    s_a, s_b = ((torch.rand(6, generator=g, dtype=torch.float64) + 0.2).requires_grad_() for _ in range(2))
    counts = torch.randint(0, 4, (6, 5), generator=g).double()
    counts[:, 3] += 1
    assert torch.autograd.gradcheck(lambda *a: kl_loss(*a, counts, 0.5, 0.05), (mu_a, s_a, mu_b, s_b))
    assert torch.autograd.gradcheck(lambda *a: independent_nll_loss(*a, counts), (mu_a, s_a, mu_b, s_b))


def test_likert_losses_by_hand():
    from embedkit.heads.likert import likert_kl_loss, mse_loss

    counts = torch.tensor([[0.0, 1, 0, 2, 0], [1, 0, 0, 0, 1]])
    r = torch.tensor([3.5, 2.0])
    expected_mse = (1 * (3.5 - 2) ** 2 + 2 * (3.5 - 4) ** 2 + 1 * (2 - 1) ** 2 + 1 * (2 - 5) ** 2) / 5
    assert math.isclose(float(mse_loss(r, counts)), expected_mse, rel_tol=1e-6)
    logits = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5], [1.0, 0.0, 0.0, 0.0, 1.0]])
    p = torch.softmax(logits, 1).numpy()
    t = (counts / counts.sum(1, keepdim=True)).numpy()
    kl = [sum(t[i, k] * math.log(t[i, k] / p[i, k]) for k in range(5) if t[i, k] > 0) for i in range(2)]
    assert math.isclose(float(likert_kl_loss(logits, counts)), sum(kl) / 2, rel_tol=1e-5)
