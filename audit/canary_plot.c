/* The score figure of a one-run or multi-run audit (audit/audit.h): the histograms of the two
 * groups' scores with the cut-offs that turned them into guesses, and the epsilon lower bound
 * they gave in the title. */
#include "audit/audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* One-run: the lowest score guessed "included" and the highest guessed "excluded", as
 * audit_one_run_bound's guesser chose them (the same split as signals.h5 /guess). */
static int one_run_cutoffs(const audit_canary_result *r, double *cutoffs, char labels[2][160],
                           size_t *count, dpkit_error *err)
{
    size_t m = r->signal_count;
    size_t members = (size_t)(r->bound.guesses + 1) / 2;
    size_t nonmembers = (size_t)r->bound.guesses - members;
    int32_t *guess = malloc((m ? m : 1) * sizeof *guess);
    if (!guess)
        return error_set(err, "scores plot: out of memory");
    if (audit_one_run_guess_labels(r->signal_score, m, members, nonmembers, guess, err)) {
        free(guess);
        return -1;
    }
    double lowest_in = INFINITY, highest_out = -INFINITY;
    for (size_t i = 0; i < m; i++) {
        if (guess[i] > 0)
            lowest_in = fmin(lowest_in, r->signal_score[i]);
        else if (guess[i] < 0)
            highest_out = fmax(highest_out, r->signal_score[i]);
    }
    free(guess);
    *count = 0;
    if (members) {
        cutoffs[*count] = lowest_in;
        snprintf(labels[(*count)++], sizeof labels[0],
                 "guess included at score ≥ %.4g (%zu guesses)", lowest_in, members);
    }
    if (nonmembers) {
        cutoffs[*count] = highest_out;
        snprintf(labels[(*count)++], sizeof labels[0],
                 "guess excluded at score ≤ %.4g (%zu guesses)", highest_out, nonmembers);
    }
    return 0;
}

int audit_canary_plot_scores(const audit_canary_result *r, int multi_run, const char *name,
                             double confidence, const char *png_path, dpkit_error *err)
{
    double cutoffs[2];
    char labels[2][160];
    size_t cutoff_count = 0;
    if (multi_run) {
        cutoffs[0] = r->threshold;
        snprintf(labels[0], sizeof labels[0],
                 "threshold %.4g (chosen on the first half of the runs)", r->threshold);
        cutoff_count = isfinite(r->threshold) ? 1 : 0;
    } else if (one_run_cutoffs(r, cutoffs, labels, &cutoff_count, err)) {
        return -1;
    }
    const char *cutoff_labels[2] = {labels[0], labels[1]};
    char title[400], accountant[64];
    if (isfinite(r->epsilon))
        snprintf(accountant, sizeof accountant, "ε = %.4g", r->epsilon);
    else
        snprintf(accountant, sizeof accountant, "ε = ∞, not private");
    snprintf(title, sizeof title, "%s: %s audit, ε lower bound %.4g (%g%% confidence; %s, δ = %g)",
             name, multi_run ? "multi-run" : "one-run", r->epsilon_lb, 100 * confidence,
             accountant, r->delta);
    audit_score_plot plot = {
        .scores = r->signal_score, .truth = r->signal_truth, .count = r->signal_count,
        .label_in = multi_run ? "runs with the canary" : "included canaries",
        .label_out = multi_run ? "runs without the canary" : "excluded canaries",
        .cutoffs = cutoffs, .cutoff_labels = cutoff_labels, .cutoff_count = cutoff_count,
        .xlabel = multi_run ? "score of the canary in each run" : "score of each canary"};
    return audit_plot_scores(png_path, &plot, title, err);
}
