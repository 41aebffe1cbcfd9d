"""dpkit.audit on numpy arrays: tensorflow_privacy's exposures, the worked Clopper-Pearson example
of docs/maths.md 6a, one-run and LiRA statistics on planted signals, bad input refused."""

import json
import math

import numpy as np
import pytest

import dpkit
from dpkit import audit


@pytest.fixture(scope="module")
def exposure_ref(test_data):
    with open(test_data / "exposure" / "exposure_ref.json") as f:
        return json.load(f)


def test_exposure_interpolation_matches_tensorflow_privacy(exposure_ref):
    for case in exposure_ref["interpolation"]:
        reference = np.array(case["perplexities_reference"])
        tolerance = 4 * np.finfo(float).eps * math.log2(reference.size)
        for key, perplexities in case["perplexities"].items():
            got = audit.exposure(perplexities, reference)
            want = np.array(case["exposure_input_order"][key])
            assert np.abs(got - want).max() <= tolerance, (case["name"], key)


def test_exposure_extrapolation_matches_scipy(exposure_ref):
    for case in exposure_ref["extrapolation"]:
        reference = np.array(case["perplexities_reference"])
        for key, perplexities in case["perplexities"].items():
            got, fit = audit.exposure_extrapolation(perplexities, reference, return_fit=True)
            want = np.array(case["exposure"][key])
            assert np.all(np.abs(got - want) <= 1e-3 * np.abs(want)), (case["name"], key)
            assert abs(fit[0] - case["skewnorm_fit"]["a"]) < 0.5


def test_exposure_from_ranks():
    np.testing.assert_allclose(audit.exposure_from_ranks([1, 2, 1024], 1024), [10, 9, 0])
    with pytest.raises(ValueError):
        audit.exposure_from_ranks([0], 10)
    with pytest.raises(ValueError):
        audit.exposure_from_ranks([11], 10)


def test_worked_example_of_the_maths():
    lo, _ = audit.clopper_pearson(900, 1000, alpha=0.05)
    assert abs(lo - 0.8797121) < 5e-8
    _, hi = audit.clopper_pearson(50, 1000)
    assert abs(hi - 0.0653905) < 5e-8
    eps = audit.epsilon_lower_bound(50, 1000, 100, 1000, delta=0.0)
    assert abs(eps - 2.599218) < 5e-7
    eps_scores, threshold = audit.epsilon_lower_bound_from_scores(
        np.arange(20) + 10.0, np.arange(20) - 10.0, delta=0.0)
    assert eps_scores == audit.epsilon_lower_bound(0, 20, 0, 20, delta=0.0)
    assert -1 <= threshold < 10


def test_one_run_bound_sees_a_planted_signal():
    rng = np.random.default_rng(5)
    m = 1000
    included = rng.integers(0, 2, m).astype(bool)
    strong = audit.one_run_bound(included * 10.0 + rng.normal(size=m), included, delta=1e-5)
    blind = audit.one_run_bound(rng.normal(size=m), included, delta=1e-5)
    assert strong["epsilon"] > 1.0 and strong["correct"] <= strong["guesses"] <= m
    assert blind["epsilon"] < strong["epsilon"]
    # A perfect guesser of r = m/2 guesses: the same as the one-run formula.
    assert audit.one_run_epsilon(m, m // 2, m // 2, 1e-5) > 1.0
    assert audit.one_run_epsilon(m, m // 2, m // 4, 1e-5) == 0.0


def test_lira_on_planted_memorisation():
    rng = np.random.default_rng(7)
    models, examples = 16, 200
    keep = np.zeros((models, examples), bool)
    for j in range(examples):
        keep[rng.permutation(models)[: models // 2], j] = True
    base = rng.normal(size=examples)
    shadow = base + 2.0 * keep + 0.3 * rng.normal(size=(models, examples))
    member = rng.integers(0, 2, examples).astype(bool)
    target = base + 2.0 * member + 0.3 * rng.normal(size=examples)
    online, offline = audit.lira(shadow, keep, target)
    assert audit.roc(online, member)["auc"] > 0.95
    assert audit.roc(offline, member)["auc"] > 0.9
    online3, _ = audit.lira(shadow[:, :, None], keep, target[:, None])
    np.testing.assert_array_equal(online, online3)
    # Every example OUT everywhere: no online statistic, offline still defined.
    none_in, offline_only = audit.lira(shadow, np.zeros_like(keep), target)
    assert none_in is None and offline_only.shape == (examples,)


def test_logit_confidence():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, -1.0]], np.float32)
    phi = audit.lira_logit_confidence(logits, [0, 1])
    want = [2 - math.log(2), 1 - math.log(1 + math.exp(-1))]
    np.testing.assert_allclose(phi, want, rtol=1e-6)


@pytest.mark.parametrize("call, error", [
    (lambda: audit.exposure([1.0, np.nan], [1.0, 2.0]), ValueError),
    (lambda: audit.exposure([[1.0]], [1.0, 2.0]), ValueError),
    (lambda: audit.exposure([1.0], []), dpkit.DpkitError),
    (lambda: audit.clopper_pearson(11, 10), dpkit.DpkitError),
    (lambda: audit.clopper_pearson(1, 10, alpha=1.5), dpkit.DpkitError),
    (lambda: audit.epsilon_lower_bound(1, 0, 1, 10, 1e-5), dpkit.DpkitError),
    (lambda: audit.one_run_epsilon(10, 20, 5, 1e-5), dpkit.DpkitError),
    (lambda: audit.one_run_bound([1.0, 2.0], [1, 2], 1e-5), ValueError),
    (lambda: audit.one_run_bound([1.0, 2.0], [1], 1e-5), ValueError),
    (lambda: audit.lira(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(3)), ValueError),
    (lambda: audit.lira_logit_confidence(np.zeros((2, 3)), [0, 3]), ValueError),
    (lambda: audit.roc([1.0, 2.0], [1, 1]), dpkit.DpkitError),
])
def test_bad_input_raises(call, error):
    with pytest.raises(error):
        call()
