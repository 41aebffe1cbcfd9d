/* The signals of a one-run or multi-run audit (docs/formats.md, format dpkit-canary-signals-1):
 * every canary's (one-run) or run's (multi-run) score and truth, and what the bound did with
 * them, so that the bound can be recomputed or the scores studied outside dpkit. */
#include "audit/audit.h"
#include "common/h5io.h"

#include <stdlib.h>

#define SIGNALS_FORMAT "dpkit-canary-signals-1"

/* One-run: the guesses of the bound (the highest scores guessed in, the lowest out). */
static int write_one_run(h5io_file *f, const audit_canary_result *r, dpkit_error *err)
{
    size_t m = r->signal_count;
    size_t members = (size_t)(r->bound.guesses + 1) / 2;
    size_t nonmembers = (size_t)r->bound.guesses - members;
    int32_t *guess = malloc((m ? m : 1) * sizeof *guess);
    if (!guess)
        return error_set(err, "one-run signals: out of memory for %zu canaries", m);
    int status = audit_one_run_guess_labels(r->signal_score, m, members, nonmembers, guess, err) ||
                 h5io_write_array(f, "/score", H5IO_FLOAT64, 1, &m, r->signal_score, err) ||
                 h5io_write_array(f, "/included", H5IO_UINT8, 1, &m, r->signal_truth, err) ||
                 h5io_write_array(f, "/guess", H5IO_INT32, 1, &m, guess, err) ||
                 h5io_write_attr_int64(f, "/", "guesses", (long long)r->bound.guesses, err) ||
                 h5io_write_attr_int64(f, "/", "correct", (long long)r->bound.correct, err);
    free(guess);
    return status;
}

/* Multi-run: which runs chose the threshold (the first half of each side) and the threshold. */
static int write_multi_run(h5io_file *f, const audit_canary_result *r, dpkit_error *err)
{
    size_t n = r->signal_count, R = n / 2, h = R / 2;
    uint8_t *chose = malloc(n ? n : 1);
    if (!chose)
        return error_set(err, "multi-run signals: out of memory for %zu runs", n);
    for (size_t i = 0; i < n; i++)
        chose[i] = i % R < h;
    int status = h5io_write_array(f, "/score", H5IO_FLOAT64, 1, &n, r->signal_score, err) ||
                 h5io_write_array(f, "/with_canary", H5IO_UINT8, 1, &n, r->signal_truth, err) ||
                 h5io_write_array(f, "/chose_threshold", H5IO_UINT8, 1, &n, chose, err) ||
                 h5io_write_attr_double(f, "/", "threshold", r->threshold, err);
    free(chose);
    return status;
}

int audit_canary_write_signals(const audit_canary_result *r, int multi_run, const char *path,
                               dpkit_error *err)
{
    if (!r->signal_score || !r->signal_truth)
        return error_set(err, "%s: the audit kept no signals", path);
    h5io_file *f;
    if (h5io_create(path, &f, err))
        return -1;
    int status = (multi_run ? write_multi_run : write_one_run)(f, r, err) ||
                 h5io_write_attr_string(f, "/", "kind", multi_run ? "multi-run" : "one-run",
                                        err) ||
                 h5io_write_attr_double(f, "/", "epsilon_lb", r->epsilon_lb, err) ||
                 h5io_write_attr_string(f, "/", "format", SIGNALS_FORMAT, err) ||
                 h5io_write_attr_string(f, "/", "dpkit_version", DPKIT_VERSION, err);
    return h5io_finish(f, status, err);
}
