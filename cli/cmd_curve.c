/* dpkit curve: accuracy against epsilon. Parses the command line, runs the library's curve
 * experiment (dp/run_curve.c) and prints the result. */
#include "cli/cli.h"
#include "dp/run_curve.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "curve"

static void print_help(void)
{
    printf("usage: dpkit curve CURVE.yaml [--set key=value]... [--jobs N]\n"
           "\n"
           "Test accuracy against epsilon. For every line of the curve config (a training config),\n"
           "every epsilon and every seed, trains a model as 'dpkit train' does with the noise\n"
           "calibrated to that epsilon (nothing else changed) into OUTPUT/points/. A point whose\n"
           "summary.json exists is not trained again, so an interrupted sweep continues where it\n"
           "stopped. Then writes OUTPUT/curve.csv (one row per point), OUTPUT/curve.md (mean and\n"
           "standard deviation over seeds) and OUTPUT/curve.png (accuracy against epsilon, one line\n"
           "per model with error bars, published values marked).\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the curve config (repeatable)\n"
           "  --jobs N          train N points at a time (default 1; each needs the memory of one\n"
           "                    training run)\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit curve configs/curves/mnist.yaml --jobs 2\n");
}

/* Runs in each point's process once it is trained: the lines `dpkit train` prints. */
static void print_point(const run_result *result, void *user)
{
    (void)user;
    cli_print_train_result(result);
}

static int jobs_option(int code, const char *value, void *user)
{
    (void)code; /* only --jobs */
    long long *jobs = user;
    if (cli_parse_long(COMMAND, "--jobs", value, jobs))
        return 2;
    if (*jobs < 1 || *jobs > 64)
        return cli_usage_error(COMMAND, "--jobs must be 1..64, got %lld", *jobs);
    return 0;
}

int cli_curve(int argc, char **argv)
{
    static const struct option extra[] = {{"jobs", required_argument, NULL, 'j'},
                                          {NULL, 0, NULL, 0}};
    cli_config_args args;
    long long jobs = 1;
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, run_curve_schema,
                                          print_help, &args, jobs_option, &jobs);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    run_curve curve;
    run_curve_options run = {.jobs = (int)jobs, .trained = print_point};
    dpkit_error err;
    int status = run_curve_load(args.config_path, args.sets, args.set_count, &curve, &err) ||
                 run_curve_run(&curve, &run, &err);
    if (!status)
        printf("%s: %zu points; %s/curve.csv, curve.md, curve.png\n", curve.name,
               curve.point_count, curve.dir);
    run_curve_free(&curve);
    return status ? cli_fail(COMMAND, &err) : 0;
}
