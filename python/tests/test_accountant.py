"""dpkit.accountant equals `dpkit epsilon` / `dpkit calibrate` and the published references."""

import csv
import json
import math
import subprocess

import pytest

import dpkit
from dpkit import accountant


def reference_rows(test_data, count=4):
    with open(test_data / "accountant" / "epsilon.csv") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // count)
    return rows[::step][:count]


def cli_epsilon(dpkit_bin, q, sigma, steps, delta, kind):
    out = subprocess.run([dpkit_bin, "epsilon", "--sampling-rate", repr(q), "--noise-multiplier",
                          repr(sigma), "--steps", str(steps), "--delta", repr(delta),
                          "--accountant", kind, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["epsilon"]


@pytest.mark.parametrize("kind", ["rdp", "pld"])
def test_epsilon_equals_the_program_and_the_references(test_data, dpkit_bin, kind):
    for row in reference_rows(test_data, 4 if kind == "rdp" else 2):
        q, sigma, delta = float(row["q"]), float(row["sigma"]), float(row["delta"])
        steps = int(float(row["steps"]))
        got = accountant.epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta,
                                 accountant=kind)
        assert got == cli_epsilon(dpkit_bin, q, sigma, steps, delta, kind), row["label"]
        if kind == "rdp":  # the C tests' tolerance against tensorflow_privacy
            assert abs(got - float(row["eps_rdp"])) <= 1e-6 * abs(float(row["eps_rdp"]))
        else:              # PLD sits inside the PRV accountant's error bounds
            assert float(row["eps_prv_lo"]) - 1e-3 <= got <= float(row["eps_prv_hi"]) + 1e-3


def test_acceptance_point(dpkit_bin):
    got = accountant.epsilon(noise_multiplier=1.1, sample_rate=0.01, steps=10000, delta=1e-5)
    assert got == cli_epsilon(dpkit_bin, 0.01, 1.1, 10000, 1e-5, "rdp")


def test_epsilon_interval_brackets_the_program(dpkit_bin):
    lower, upper = accountant.epsilon_interval(1.1, 0.01, 10000, 1e-5)
    out = subprocess.run([dpkit_bin, "epsilon", "--noise-multiplier", "1.1", "--sampling-rate",
                          "0.01", "--steps", "10000", "--delta", "1e-5", "--accountant", "pld",
                          "--json"], capture_output=True, text=True, check=True)
    assert [lower, upper] == json.loads(out.stdout)["epsilon_interval"]
    assert upper == accountant.epsilon(1.1, 0.01, 10000, 1e-5, accountant="pld")
    assert 5.19 < lower < upper


def test_calibrate_inverts_epsilon(dpkit_bin):
    sigma = accountant.calibrate(epsilon=3.0, delta=1e-5, sample_rate=0.01, steps=2000)
    out = subprocess.run([dpkit_bin, "calibrate", "--epsilon", "3", "--delta", "1e-5",
                          "--sampling-rate", "0.01", "--steps", "2000", "--json"],
                         capture_output=True, text=True)
    if out.returncode == 0 and out.stdout.strip().startswith("{"):
        assert sigma == json.loads(out.stdout)["noise_multiplier"]
    eps = accountant.epsilon(sigma, 0.01, 2000, 1e-5)
    assert eps <= 3.0 and eps > 2.99


def test_ledger_composes_like_one_schedule():
    ledger = accountant.Ledger()
    assert ledger.epsilon(1e-5) == 0.0
    ledger.record(0.01, 1.1, 4000).record(0.01, 1.1, 6000)
    assert len(ledger) == 1 and ledger.events == [(0.01, 1.1, 10000, "dp-sgd")]
    assert ledger.epsilon(1e-5) == accountant.epsilon(1.1, 0.01, 10000, 1e-5)
    ledger.record(1.0, 8.0, 2, label="private-bn")
    assert len(ledger) == 2
    assert ledger.epsilon(1e-5) > accountant.epsilon(1.1, 0.01, 10000, 1e-5)
    assert ledger.epsilon(1e-5, accountant="pld") < ledger.epsilon(1e-5)
    opacus_style = accountant.Ledger()
    for _ in range(100):
        opacus_style.step(noise_multiplier=1.1, sample_rate=0.01)
    assert opacus_style.epsilon(1e-5) == accountant.epsilon(1.1, 0.01, 100, 1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda: accountant.epsilon(-1.0, 0.01, 10, 1e-5), "noise multiplier"),
    (lambda: accountant.epsilon(1.0, 1.5, 10, 1e-5), "sampling rate"),
    (lambda: accountant.epsilon(1.0, 0.01, 10, 2.0), "delta"),
    (lambda: accountant.epsilon(1.0, float("nan"), 10, 1e-5), "sampling rate"),
    (lambda: accountant.Ledger().record(0.01, 1.0, -3), "count"),
    (lambda: accountant.Ledger().record(0.01, 1.0, 1, label="x" * 40), "label"),
])
def test_bad_values_raise_dpkit_errors(call, match):
    with pytest.raises(dpkit.DpkitError, match=f"(?i){match}"):
        call()


def test_bad_types_raise():
    with pytest.raises(ValueError, match="accountant"):
        accountant.epsilon(1.0, 0.01, 10, 1e-5, accountant="moments")
    with pytest.raises(ValueError, match="steps"):
        accountant.epsilon(1.0, 0.01, 10.5, 1e-5)
    with pytest.raises(TypeError):
        accountant.epsilon("one", 0.01, 10, 1e-5)
    assert math.isinf(accountant.epsilon(0.0, 0.01, 10, 1e-5))
