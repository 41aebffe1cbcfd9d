/* dpkit curve: accuracy against epsilon. Parses the command line, runs the library's curve
 * experiment (dp/run_curve.c) and prints the result. */
#include "cli/cli.h"
#include "common/parallel.h"
#include "dp/run_curve.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "curve"

static void print_help(void)
{
    printf("usage: dpkit curve CURVE.yaml [--set key=value]... [--jobs N]\n"
           "       dpkit curve CURVE.yaml [--set key=value]... --plot-only [--csv FILE]\n"
           "\n"
           "Test accuracy against epsilon. For every line of the curve config (a training config),\n"
           "every epsilon and every seed, trains a model as 'dpkit train' does with the noise\n"
           "calibrated to that epsilon (nothing else changed) into OUTPUT/points/. A point whose\n"
           "summary.json exists is not trained again, so an interrupted sweep continues where it\n"
           "stopped. Then writes OUTPUT/curve.csv (one row per point), OUTPUT/curve.md (mean and\n"
           "standard deviation over seeds) and the figure OUTPUT/curve.png with curve.pdf and\n"
           "curve.svg beside it (accuracy against epsilon, one line per model with error bars of one\n"
           "sample standard deviation over the seeds, published values marked; gnuplot draws them)\n"
           "and the files that draw them again: curve.gp and curve.data*.tsv ('gnuplot curve.gp' in\n"
           "OUTPUT). A PDF or SVG is skipped, with a warning, when gnuplot lacks its terminal.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the curve config (repeatable)\n"
           "  --jobs N          train N points at a time (default 1; each needs the memory of one\n"
           "                    training run)\n"
           "  --plot-only       train nothing: read the points from OUTPUT/curve.csv (or --csv) and\n"
           "                    draw the figure again beside it, named after the CSV (FILE.png,\n"
           "                    .pdf, .svg, .gp, .data*.tsv); the curve config must be the one the\n"
           "                    CSV was made with\n"
           "  --csv FILE        the CSV --plot-only reads (default OUTPUT/curve.csv)\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit curve configs/curves/mnist.yaml --jobs 2\n"
           "  dpkit curve configs/curves/mnist.yaml --plot-only --csv docs/results/curves/mnist.csv\n");
}

/* Runs in each point's process once it is trained: the lines `dpkit train` prints. */
static void print_point(const run_result *result, void *user)
{
    (void)user;
    cli_print_train_result(result);
}

typedef struct curve_args {
    long long jobs;
    int plot_only;
    const char *csv; /* NULL: OUTPUT/curve.csv */
} curve_args;

static int extra_option(int code, const char *value, void *user)
{
    curve_args *a = user;
    if (code == 'P') {
        a->plot_only = 1;
        return 0;
    }
    if (code == 'C') {
        a->csv = value;
        return 0;
    }
    if (cli_parse_long(COMMAND, "--jobs", value, &a->jobs))
        return 2;
    if (a->jobs < 1 || a->jobs > 64)
        return cli_usage_error(COMMAND, "--jobs must be 1..64, got %lld", a->jobs);
    return 0;
}

/* --plot-only: the figure from an existing CSV, nothing trained. */
static int redraw(run_curve *curve, const char *csv, dpkit_error *err)
{
    char path[2200];
    if (!csv) {
        snprintf(path, sizeof path, "%s/curve.csv", curve->dir);
        csv = path;
    }
    if (run_curve_redraw(curve, csv, err))
        return -1;
    size_t length = strlen(csv) - 4; /* run_curve_redraw checked the .csv */
    printf("%s: figure from %s: %.*s.png, .pdf, .svg, .gp\n", curve->name, csv, (int)length, csv);
    return 0;
}

int cli_curve(int argc, char **argv)
{
    static const struct option extra[] = {{"jobs", required_argument, NULL, 'j'},
                                          {"plot-only", no_argument, NULL, 'P'},
                                          {"csv", required_argument, NULL, 'C'},
                                          {NULL, 0, NULL, 0}};
    cli_config_args args;
    curve_args a = {.jobs = 1};
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, run_curve_schema,
                                          print_help, &args, extra_option, &a);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    if (a.csv && !a.plot_only)
        return cli_usage_error(COMMAND, "--csv is read by --plot-only only");
    run_curve curve;
    run_curve_options run = {.jobs = (int)a.jobs, .trained = print_point};
    dpkit_error err;
    int status = run_curve_load(args.config_path, args.sets, args.set_count, &curve, &err);
    if (!status && a.plot_only) {
        status = redraw(&curve, a.csv, &err);
        run_curve_free(&curve);
        return status ? cli_fail(COMMAND, &err) : 0;
    }
    status = status || run_curve_run(&curve, &run, &err);
    if (!status && parallel_world_rank() == 0) /* under mpirun, rank 0 reports */
        printf("%s: %zu points; %s/curve.csv, curve.md, curve.png\n", curve.name,
               curve.point_count, curve.dir);
    run_curve_free(&curve);
    return status ? cli_fail(COMMAND, &err) : 0;
}
