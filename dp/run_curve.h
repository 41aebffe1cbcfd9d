/* The accuracy-against-epsilon experiment (what `dpkit curve` runs): a grid of (training
 * config, epsilon, seed) points, each trained by run_train with the noise calibrated to its
 * epsilon, finished points kept, then curve.csv, curve.md and the figure curve.png (with
 * curve.pdf, curve.svg and the gnuplot script and data that draw them). */
#ifndef DPKIT_DP_RUN_CURVE_H
#define DPKIT_DP_RUN_CURVE_H

#include "dp/run_config.h"

#define RUN_CURVE_MAX_VALUES 64 /* epsilons, seeds */

/* name, runs (label, config, paper, set, seeds), epsilons, seeds, delta, paper_epsilon,
 * output.dir. */
extern const config_field run_curve_schema[];

typedef struct run_curve_point {
    size_t line; /* index in runs */
    double epsilon;
    long seed;
    char dir[4096]; /* OUTPUT/points/<label>/eps<epsilon>-seed<seed> */
    /* from the point's summary.json once it is finished */
    int done;
    double accuracy, sigma, seconds, spent;
    long epochs;
    char dataset[128];
} run_curve_point;

typedef struct run_curve {
    config *cfg;
    char name[128], dir[2048];
    double delta, paper_epsilon;
    size_t line_count;
    double epsilons[RUN_CURVE_MAX_VALUES], seeds[RUN_CURVE_MAX_VALUES];
    size_t epsilon_count, seed_count;
    run_curve_point *points; /* line by line, then epsilon, then seed */
    size_t point_count;
} run_curve;

/* Loads and checks a curve config (with --set assignments) and lays out its points; errors
 * name where the value came from and the key. Free with run_curve_free, also after an error. */
int run_curve_load(const char *path, const char *const *sets, size_t set_count, run_curve *c,
                   dpkit_error *err);
void run_curve_free(run_curve *c);

typedef struct run_curve_options {
    int jobs; /* points trained at a time (1..64), each in a process of its own */
    /* Called, when not NULL, in the point's process after its training finished (e.g. to
     * print the result); the process logs errors only, like `dpkit -q train`. */
    void (*trained)(const run_result *result, void *user);
    void *user;
} run_curve_options;

/* Creates the curve directory, trains every point without a summary.json (an interrupted
 * sweep continues where it stopped), then writes curve.csv (one row per point), curve.md (mean
 * and standard deviation over seeds) and the figure (run_curve_plot). A failed point stops the sweep (the points
 * already running are waited for) with its error. */
int run_curve_run(run_curve *c, const run_curve_options *options, dpkit_error *err);

/* The figure of the finished points: png_path (e.g. OUTPUT/curve.png) with the PDF and SVG
 * beside it and the gnuplot script and data that draw them (common/plot.h). Mean accuracy
 * over the seeds against epsilon, one line per model, error bars of one sample standard
 * deviation (none for one seed), the published values as markers; delta and the accountant
 * (from each line's training config) in the title or the key. */
int run_curve_plot(const run_curve *c, const char *png_path, dpkit_error *err);
/* Mean and sample standard deviation (percent; sd 0 for one seed) of the finished points of line
 * `line` at epsilon, and how many there are (mean NaN for none). */
void run_curve_point_stats(const run_curve *c, size_t line, double epsilon, double *mean,
                           double *sd, size_t *n);

/* Fills the points from a curve.csv written by run_curve_run for the same curve config
 * (rows matched by model, epsilon and seed; errors name the file and line). */
int run_curve_read_csv(run_curve *c, const char *csv_path, dpkit_error *err);

/* Draws the figure again from csv_path without training: run_curve_read_csv, then
 * run_curve_plot into the CSV's name with .png (OUTPUT/curve.csv -> OUTPUT/curve.png). */
int run_curve_redraw(run_curve *c, const char *csv_path, dpkit_error *err);

#endif
