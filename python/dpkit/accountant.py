"""Privacy accounting (docs/maths.md 2 and 3) over libdpkit's dpkit_epsilon, dpkit_calibrate
and dpkit_ledger_*: the same numbers as `dpkit epsilon` and `dpkit calibrate`.

    >>> dpkit.accountant.epsilon(noise_multiplier=1.1, sample_rate=0.01, steps=10000, delta=1e-5)
"""

from ._lib import call_double, check, ffi, integer, lib, new_error, real, text

__all__ = ["epsilon", "epsilon_interval", "calibrate", "Ledger", "ACCOUNTANTS"]

ACCOUNTANTS = ("rdp", "pld")


def _accountant(name):
    if not isinstance(name, str) or name not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {name!r}")
    return text(name, "accountant")


def epsilon(noise_multiplier, sample_rate, steps, delta, accountant="rdp"):
    """epsilon after `steps` steps of the Poisson-subsampled Gaussian mechanism (DP-SGD) with
    this noise multiplier and sampling rate, at delta. Fails closed: inf when the computation
    cannot be trusted."""
    return call_double(lib().dpkit_epsilon, real(noise_multiplier, "noise_multiplier"),
                       real(sample_rate, "sample_rate"), integer(steps, "steps"),
                       real(delta, "delta"), _accountant(accountant))


def epsilon_interval(noise_multiplier, sample_rate, steps, delta):
    """(lower, upper): the PLD accountant's optimistic and pessimistic epsilon of the same
    schedule (docs/maths.md 3.3); the true epsilon lies between, and upper is
    epsilon(..., accountant="pld")."""
    lower, upper = ffi.new("double *"), ffi.new("double *")
    err = new_error()
    check(lib().dpkit_epsilon_interval(real(noise_multiplier, "noise_multiplier"),
                                       real(sample_rate, "sample_rate"), integer(steps, "steps"),
                                       real(delta, "delta"), lower, upper, err), err)
    return lower[0], upper[0]


def calibrate(epsilon, delta, sample_rate, steps, accountant="rdp"):
    """The smallest noise multiplier that keeps `steps` steps at `sample_rate` within
    (epsilon, delta)."""
    return call_double(lib().dpkit_calibrate, real(epsilon, "epsilon"), real(delta, "delta"),
                       real(sample_rate, "sample_rate"), integer(steps, "steps"),
                       _accountant(accountant))


class Ledger:
    """A privacy ledger: record the Gaussian-mechanism events a training consumed (as Opacus's
    accountant.step does), then ask for epsilon at any delta with either accountant.

        ledger = dpkit.accountant.Ledger()
        ledger.record(sample_rate=256 / 60000, noise_multiplier=1.1, count=steps)
        ledger.epsilon(delta=1e-5)
    """

    def __init__(self):
        handle = lib().dpkit_ledger_create()
        if handle == ffi.NULL:
            raise MemoryError("dpkit_ledger_create: out of memory")
        self._handle = ffi.gc(handle, lib().dpkit_ledger_free)
        self._events = []

    def record(self, sample_rate, noise_multiplier, count=1, label="dp-sgd"):
        """Records `count` runs of the Gaussian mechanism with `noise_multiplier` on a Poisson
        sample of rate `sample_rate` (1 = the whole dataset). Equal consecutive events merge."""
        label = "dp-sgd" if label is None else label
        q = real(sample_rate, "sample_rate")
        sigma = real(noise_multiplier, "noise_multiplier")
        n = integer(count, "count")
        err = new_error()
        check(lib().dpkit_ledger_record(self._handle, q, sigma, n, text(label, "label"), err),
              err)
        if n:
            if self._events and self._events[-1][:2] == (q, sigma) and self._events[-1][3] == label:
                last = self._events[-1]
                self._events[-1] = (q, sigma, last[2] + n, label)
            else:
                self._events.append((q, sigma, n, label))
        return self

    # Opacus's name for one step.
    def step(self, noise_multiplier, sample_rate):
        """One DP-SGD step (Opacus's RDPAccountant.step)."""
        return self.record(sample_rate, noise_multiplier, 1)

    @property
    def events(self):
        """The recorded events, run-length encoded: (sample_rate, noise_multiplier, count, label)."""
        return list(self._events)

    def __len__(self):
        return int(lib().dpkit_ledger_event_count(self._handle))

    def epsilon(self, delta, accountant="rdp"):
        """epsilon at delta of every event recorded so far (0 when none)."""
        return call_double(lib().dpkit_ledger_epsilon, self._handle, real(delta, "delta"),
                           _accountant(accountant))

    def __repr__(self):
        return f"Ledger({self._events!r})"
