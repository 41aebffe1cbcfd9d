"""The libdpkit binding: the dpkit.h declarations this package uses (cffi ABI mode, nothing
compiled at install time) and where the shared library is found.

Search order: $DPKIT_LIBRARY (a path to libdpkit.so*), the build/ folder of the dpkit checkout
this package sits in, the system's library search (ctypes.util.find_library), then the lib/
folders of the usual install prefixes (sys.prefix, ~/.local, /usr/local, /usr)."""

import ctypes.util
import operator
import os
import sys
import threading

import cffi

CDEF = """
typedef struct dpkit_error { char message[1024]; } dpkit_error;
const char *dpkit_version(void);

int dpkit_epsilon(double noise_multiplier, double sample_rate, long long steps, double delta,
                  const char *accountant, double *epsilon, dpkit_error *err);
int dpkit_epsilon_interval(double noise_multiplier, double sample_rate, long long steps,
                           double delta, double *lower, double *upper, dpkit_error *err);
int dpkit_calibrate(double epsilon, double delta, double sample_rate, long long steps,
                    const char *accountant, double *noise_multiplier, dpkit_error *err);

int dpkit_check_config(const char *config_path, const char *const *overrides,
                       size_t override_count, dpkit_error *err);
typedef struct dpkit_train_result {
    char model_path[4096];
    double epsilon, delta;
    double test_accuracy;
    long long steps;
    int reproducible_noise;
} dpkit_train_result;
int dpkit_train(const char *config_path, const char *const *overrides, size_t override_count,
                dpkit_train_result *result, dpkit_error *err);
enum { DPKIT_TRAIN_OVERWRITE = 1 };
int dpkit_train_flags(const char *config_path, const char *const *overrides,
                      size_t override_count, int flags, dpkit_train_result *result,
                      dpkit_error *err);

typedef struct dpkit_model dpkit_model;
dpkit_model *dpkit_model_load(const char *path, dpkit_error *err);
void dpkit_model_free(dpkit_model *model);
size_t dpkit_model_class_count(const dpkit_model *model);
size_t dpkit_model_feature_count(const dpkit_model *model);
void dpkit_model_image_shape(const dpkit_model *model, size_t *channels, size_t *height,
                             size_t *width);
int dpkit_model_predict(const dpkit_model *model, const float *features, size_t count,
                        int output, float *out, dpkit_error *err);
int dpkit_model_predict_images(const dpkit_model *model, const float *images, size_t count,
                               int output, float *out, dpkit_error *err);
int dpkit_model_epsilon(const dpkit_model *model, double delta, const char *accountant,
                        double *epsilon, dpkit_error *err);
int dpkit_model_reproducible_noise(const dpkit_model *model);
typedef struct dpkit_eval_result {
    size_t count, class_count;
    double accuracy;
    double mean_loss;
    int *labels, *predictions;
    float *losses;
    float *logits;
} dpkit_eval_result;
int dpkit_model_evaluate(const dpkit_model *model, const char *dataset, const char *split,
                         int per_example, dpkit_eval_result *result, dpkit_error *err);
void dpkit_eval_result_free(dpkit_eval_result *result);

typedef struct dpkit_ledger dpkit_ledger;
dpkit_ledger *dpkit_ledger_create(void);
void dpkit_ledger_free(dpkit_ledger *ledger);
int dpkit_ledger_record(dpkit_ledger *ledger, double sample_rate, double noise_multiplier,
                        long long count, const char *label, dpkit_error *err);
size_t dpkit_ledger_event_count(const dpkit_ledger *ledger);
int dpkit_ledger_epsilon(const dpkit_ledger *ledger, double delta, const char *accountant,
                         double *epsilon, dpkit_error *err);

typedef struct dpkit_scattering dpkit_scattering;
dpkit_scattering *dpkit_scattering_create(int J, int L, int max_order, size_t height,
                                          size_t width, int threads, int planning,
                                          dpkit_error *err);
void dpkit_scattering_free(dpkit_scattering *scattering);
void dpkit_scattering_output_shape(const dpkit_scattering *scattering, size_t *channels,
                                   size_t *height, size_t *width);
int dpkit_scattering_execute(dpkit_scattering *scattering, size_t count, const float *images,
                             float *out, dpkit_error *err);
int dpkit_scattering_channel(const dpkit_scattering *scattering, size_t k, int *order, int *j1,
                             int *theta1, int *j2, int *theta2, dpkit_error *err);

int dpkit_exposure_interpolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, dpkit_error *err);
int dpkit_exposure_extrapolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, double *fit, dpkit_error *err);
int dpkit_clopper_pearson(unsigned long long successes, unsigned long long trials, double alpha,
                          double *lower, double *upper, dpkit_error *err);
int dpkit_epsilon_lower_bound(unsigned long long false_positives, unsigned long long runs_without,
                              unsigned long long false_negatives, unsigned long long runs_with,
                              double delta, unsigned group_size, double alpha, double *epsilon,
                              dpkit_error *err);
int dpkit_epsilon_lower_bound_scores(const double *scores_with, size_t runs_with,
                                     const double *scores_without, size_t runs_without,
                                     double delta, unsigned group_size, double alpha,
                                     double *epsilon, double *threshold, dpkit_error *err);
int dpkit_one_run_epsilon(unsigned long long m, unsigned long long guesses,
                          unsigned long long correct, double delta, double p, double *epsilon,
                          dpkit_error *err);
int dpkit_one_run_bound(const double *scores, const unsigned char *included, size_t m,
                        double delta, double p, double *epsilon, unsigned long long *guesses,
                        unsigned long long *correct, double *grid_epsilon, dpkit_error *err);
int dpkit_lira_logit_confidence(const float *logits, size_t n, size_t classes,
                                const int *labels, double *phi, dpkit_error *err);
int dpkit_lira(const double *shadow_scores, const unsigned char *keep, size_t models,
               size_t examples, size_t queries, int global_variance,
               const double *target_scores, double *online, double *offline, dpkit_error *err);
int dpkit_roc(const double *scores, const unsigned char *labels, size_t n, double *auc,
              double *tpr_at_fpr_0_1, double *tpr_at_fpr_1, dpkit_error *err);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)


class DpkitError(RuntimeError):
    """A libdpkit call failed; the message is dpkit's (it names the file, field or value and
    what was expected)."""


class LibraryNotFound(DpkitError, OSError):
    """libdpkit.so could not be found or loaded."""


def _candidates():
    env = os.environ.get("DPKIT_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(here))  # python/dpkit/ -> the repository root
    if os.path.isfile(os.path.join(checkout, "dpkit.h")):
        yield os.path.join(checkout, "build", "libdpkit.so")
    found = ctypes.util.find_library("dpkit")
    if found:
        yield found
    prefixes = [sys.prefix, sys.base_prefix, os.path.expanduser("~/.local"), "/usr/local", "/usr"]
    for prefix in dict.fromkeys(prefixes):
        for name in ("libdpkit.so.0", "libdpkit.so"):
            yield os.path.join(prefix, "lib", name)


def _load():
    tried = []
    env = os.environ.get("DPKIT_LIBRARY")
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ffi.dlopen(path), path
        except OSError as e:
            if env:
                raise LibraryNotFound(f"DPKIT_LIBRARY={env}: cannot load it: {e}") from None
            tried.append(f"{path} ({e})")
    raise LibraryNotFound("libdpkit not found; build it (make) or install it (make install "
                          "PREFIX=...), or set DPKIT_LIBRARY to its path. Tried: "
                          + "; ".join(tried))


_lib = None
_path = None
_load_lock = threading.Lock()


def lib():
    """The loaded library (loaded on first use)."""
    global _lib, _path
    if _lib is None:
        with _load_lock:
            if _lib is None:
                _lib, _path = _load()
    return _lib


def library_path():
    """The file libdpkit was loaded from."""
    lib()
    return _path


def new_error():
    return ffi.new("dpkit_error *")  # zeroed: an empty message


def message(err):
    text = ffi.string(err.message).decode("utf-8", "replace")
    return text or "libdpkit reported an error without a message"


def check(status, err):
    """Raises DpkitError with dpkit's message when a call returned non-zero."""
    if status != 0:
        raise DpkitError(message(err))


def call_double(fn, *args):
    """fn(*args, out, err) for a libdpkit function that returns one double through out."""
    out = ffi.new("double *")
    err = new_error()
    check(fn(*args, out, err), err)
    return out[0]


def text(value, what):
    """A str argument as bytes for C (None stays NULL)."""
    if value is None:
        return ffi.NULL
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value.encode()


def integer(value, what, minimum=None):
    """An integral argument (a float with an integral value is accepted) as int."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not a bool")
    try:
        result = operator.index(value)
    except TypeError:
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None
        if not as_float.is_integer():
            raise ValueError(f"{what} must be an integer, got {value!r}") from None
        result = int(as_float)
    if minimum is not None and result < minimum:
        raise ValueError(f"{what} is {result}, expected at least {minimum}")
    return result


def real(value, what):
    """A real argument as float (NaN and infinities are left for libdpkit to judge)."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, not a bool")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}") from None
