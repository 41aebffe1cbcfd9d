"""Privacy-audit statistics on numpy arrays (docs/audit.md; docs/maths.md 5 and 6): canary
exposure, Clopper-Pearson epsilon lower bounds, the one-run audit bound, LiRA and ROC metrics.
The models are yours: bring their perplexities, ranks or per-example scores."""

import math

import numpy as np

from ._lib import call_double, check, ffi, integer, lib, new_error, real

__all__ = ["exposure_from_ranks", "exposure", "exposure_extrapolation", "clopper_pearson",
           "epsilon_lower_bound", "epsilon_lower_bound_from_scores", "one_run_epsilon",
           "one_run_bound", "lira_logit_confidence", "lira", "roc"]


def _doubles(x, what, ndim=1, finite=True):
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{what}: dtype {x.dtype}; expected real numbers")
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != ndim:
        raise ValueError(f"{what}: shape {x.shape}; expected {ndim} dimension(s)")
    if finite and not np.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return x


def _flags(x, what, shape):
    x = np.asarray(x)
    if x.shape != shape:
        raise ValueError(f"{what}: shape {x.shape}; expected {shape}")
    if x.dtype.kind not in "iub" or (x.size and not np.isin(x, (0, 1)).all()):
        raise ValueError(f"{what}: expected 0/1 (or bool) flags")
    return np.ascontiguousarray(x, dtype=np.uint8)


def _p(x, dtype):
    return ffi.cast(dtype, ffi.from_buffer(x)) if x.size else ffi.NULL


def exposure_from_ranks(ranks, space_size):
    """Exposure log2|R| - log2(rank) of canaries at 1-based `ranks` in a space of `space_size`
    candidates (docs/maths.md 5)."""
    ranks = np.asarray(ranks)
    if ranks.dtype.kind not in "iuf" or not np.isfinite(ranks).all():
        raise ValueError("ranks: expected finite numbers")
    size = real(space_size, "space_size")
    if not (size >= 1 and math.isfinite(size)):
        raise ValueError(f"space_size is {space_size!r}, expected a finite count >= 1")
    if ranks.size and (ranks.min() < 1 or ranks.max() > size):
        raise ValueError(f"ranks must lie in 1..space_size ({size:g})")
    return math.log2(size) - np.log2(ranks.astype(np.float64))


def exposure(perplexities, reference):
    """Rank-based exposure of each canary's perplexity against the reference perplexities of
    the other candidates, as tensorflow_privacy v0.8.0 (input order; lower = more likely)."""
    p = _doubles(perplexities, "perplexities")
    r = _doubles(reference, "reference")
    out = np.empty(p.shape)
    err = new_error()
    check(lib().dpkit_exposure_interpolation(_p(p, "double *"), p.size, _p(r, "double *"), r.size,
                                             _p(out, "double *"), err), err)
    return out


def exposure_extrapolation(perplexities, reference, return_fit=False):
    """Exposure -log2 F(perplexity) with F the skew-normal fitted to the reference perplexities
    (for spaces too large to enumerate). return_fit: also (shape, loc, scale)."""
    p = _doubles(perplexities, "perplexities")
    r = _doubles(reference, "reference")
    out = np.empty(p.shape)
    fit = np.empty(3)
    err = new_error()
    check(lib().dpkit_exposure_extrapolation(_p(p, "double *"), p.size, _p(r, "double *"),
                                             r.size, _p(out, "double *"), _p(fit, "double *"),
                                             err), err)
    return (out, tuple(fit)) if return_fit else out


def clopper_pearson(successes, trials, alpha=0.05):
    """Two-sided Clopper-Pearson interval (lower, upper) at level alpha."""
    lo, hi = ffi.new("double *"), ffi.new("double *")
    err = new_error()
    check(lib().dpkit_clopper_pearson(integer(successes, "successes", 0),
                                      integer(trials, "trials", 0), real(alpha, "alpha"), lo, hi,
                                      err), err)
    return lo[0], hi[0]


def epsilon_lower_bound(false_positives, runs_without, false_negatives, runs_with, delta,
                        alpha=0.05, group_size=1):
    """Empirical epsilon lower bound from a membership test's error counts over runs without
    and with the canary (Clopper-Pearson at confidence 1 - alpha; docs/maths.md 6a)."""
    return call_double(
        lib().dpkit_epsilon_lower_bound,
        integer(false_positives, "false_positives", 0), integer(runs_without, "runs_without", 0),
        integer(false_negatives, "false_negatives", 0), integer(runs_with, "runs_with", 0),
        real(delta, "delta"), integer(group_size, "group_size", 1), real(alpha, "alpha"))


def epsilon_lower_bound_from_scores(scores_with, scores_without, delta, alpha=0.05,
                                    group_size=1):
    """The best bound over every threshold of the scores (larger = member); returns
    (epsilon, threshold). Choosing the threshold on the same runs voids the nominal confidence:
    choose it on separate runs for a real claim."""
    w = _doubles(scores_with, "scores_with")
    wo = _doubles(scores_without, "scores_without")
    eps, thr = ffi.new("double *"), ffi.new("double *")
    err = new_error()
    check(lib().dpkit_epsilon_lower_bound_scores(
        _p(w, "double *"), w.size, _p(wo, "double *"), wo.size, real(delta, "delta"),
        integer(group_size, "group_size", 1), real(alpha, "alpha"), eps, thr, err), err)
    return eps[0], thr[0]


def one_run_epsilon(m, guesses, correct, delta, p=0.05):
    """One-run audit (Steinke, Nasr and Jagielski 2023): the largest epsilon refuted at
    confidence 1 - p by `correct` right guesses out of `guesses` on m canaries."""
    return call_double(lib().dpkit_one_run_epsilon, integer(m, "m", 0),
                       integer(guesses, "guesses", 0), integer(correct, "correct", 0),
                       real(delta, "delta"), real(p, "p"))


def one_run_bound(scores, included, delta, p=0.05):
    """The sound one-run bound from canary scores (larger = member) and inclusion flags: a dict
    with epsilon, guesses, correct and grid_epsilon (ML Privacy Meter's uncorrected maximum)."""
    s = _doubles(scores, "scores")
    inc = _flags(included, "included", s.shape)
    eps, grid = ffi.new("double *"), ffi.new("double *")
    r, v = ffi.new("unsigned long long *"), ffi.new("unsigned long long *")
    err = new_error()
    check(lib().dpkit_one_run_bound(_p(s, "double *"), _p(inc, "unsigned char *"), s.size,
                                    real(delta, "delta"), real(p, "p"), eps, r, v, grid, err), err)
    return {"epsilon": eps[0], "guesses": int(r[0]), "correct": int(v[0]),
            "grid_epsilon": grid[0]}


def lira_logit_confidence(logits, labels):
    """LiRA's per-example score phi = log(p / (1 - p)) of the true class, logits (n, classes)."""
    x = np.asarray(logits)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"logits: dtype {x.dtype}; expected real numbers")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"logits: shape {x.shape}; expected (n, classes)")
    if not np.isfinite(x).all():
        raise ValueError("logits hold NaN or infinite values")
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
        raise ValueError(f"labels: shape {y.shape} dtype {y.dtype}; expected ({x.shape[0]},) "
                         "integers")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise ValueError(f"labels must lie in 0..{x.shape[1] - 1}")
    y = np.ascontiguousarray(y, dtype=np.intc)
    out = np.empty(x.shape[0])
    err = new_error()
    check(lib().dpkit_lira_logit_confidence(_p(x, "float *"), x.shape[0], x.shape[1],
                                            _p(y, "int *"), _p(out, "double *"), err), err)
    return out


def lira(shadow_scores, keep, target_scores, global_variance=False):
    """LiRA (docs/maths.md 6c). shadow_scores (models, examples[, queries]), keep (models,
    examples) 0/1, target_scores (examples[, queries]). Returns (online, offline) statistics
    per example (larger = member); online is None unless every example is IN for some shadow
    model."""
    s = _doubles(shadow_scores, "shadow_scores", ndim=np.ndim(shadow_scores))
    if s.ndim == 2:
        s = s[:, :, None]
    if s.ndim != 3:
        raise ValueError(f"shadow_scores: shape {s.shape}; expected (models, examples[, queries])")
    models, examples, queries = s.shape
    k = _flags(keep, "keep", (models, examples))
    t = _doubles(target_scores, "target_scores", ndim=np.ndim(target_scores))
    if t.ndim == 1:
        t = t[:, None]
    if t.shape != (examples, queries):
        raise ValueError(f"target_scores: shape {t.shape}; expected ({examples}, {queries})")
    t = np.ascontiguousarray(t)
    s = np.ascontiguousarray(s)
    has_in = bool(k.any(axis=0).all())
    online = np.empty(examples) if has_in else None
    offline = np.empty(examples)
    err = new_error()
    check(lib().dpkit_lira(_p(s, "double *"), _p(k, "unsigned char *"), models, examples,
                           queries, int(bool(global_variance)), _p(t, "double *"),
                           _p(online, "double *") if has_in else ffi.NULL,
                           _p(offline, "double *"), err), err)
    return online, offline


def roc(scores, labels):
    """ROC metrics of scores (larger = member) against 0/1 labels: a dict with auc,
    tpr_at_fpr_0.1% and tpr_at_fpr_1%."""
    s = _doubles(scores, "scores")
    y = _flags(labels, "labels", s.shape)
    auc, t01, t1 = ffi.new("double *"), ffi.new("double *"), ffi.new("double *")
    err = new_error()
    check(lib().dpkit_roc(_p(s, "double *"), _p(y, "unsigned char *"), s.size, auc, t01, t1,
                          err), err)
    return {"auc": auc[0], "tpr_at_fpr_0.1%": t01[0], "tpr_at_fpr_1%": t1[0]}
