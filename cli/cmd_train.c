/* dpkit train: parses the command line, runs the library's training driver (dp/run.c) and
 * prints the result. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "train"

static void print_help(void)
{
    printf("usage: dpkit train CONFIG.yaml [--set key=value]... [--resume] [options]\n"
           "\n"
           "Trains a classifier with DP-SGD as the config says: computes (or loads from the cache)\n"
           "the features, fits the normalisation (private-bn statistics are released with noise\n"
           "and recorded in the privacy ledger), calibrates the noise multiplier to privacy.epsilon\n"
           "over training.epochs unless privacy.noise_multiplier is given, then trains with Poisson\n"
           "sampling, per-example clipping and Gaussian noise. Every epoch appends a line to\n"
           "metrics.jsonl and writes checkpoint.h5; at the end model.h5 and summary.json.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable), e.g. --set privacy.epsilon=1\n"
           "  --resume          continue from OUTPUT_DIR/checkpoint.h5 (same config)\n"
           "  --max-epochs N    stop after N epochs in this invocation (resume later)\n"
           "  --force-features  recompute the features even if cached\n"
           "  --output DIR      run directory (default output.dir, or runs/<name>)\n"
           "  --print-config    print every config key with its default and exit\n"
           "  -q, --quiet       only errors\n"
           "  -v, --verbose     more detail\n"
           "  -h, --help        show this help\n"
           "\n"
           "example:\n"
           "  dpkit train configs/mnist-scatter-linear.yaml --set training.epochs=10\n");
}

typedef struct train_job {
    const char *config_path;
    cli_config_args config;
    int resume, force_features, max_epochs;
} train_job;

static int parse_args(int argc, char **argv, train_job *job)
{
    static const struct option options[] = {
        {"set", required_argument, NULL, 's'},      {"resume", no_argument, NULL, 'r'},
        {"max-epochs", required_argument, NULL, 'm'}, {"force-features", no_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},   {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},        {NULL, 0, NULL, 0}};
    memset(job, 0, sizeof *job);
    optind = 1;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int shared = cli_config_option(COMMAND, c, optarg, run_config_schema, print_help,
                                       &job->config);
        if (shared > 0)
            return shared;
        if (shared == 0)
            continue;
        switch (c) {
        case 'r':
            job->resume = 1;
            break;
        case 'f':
            job->force_features = 1;
            break;
        case 'm':
            if (cli_parse_long(COMMAND, "--max-epochs", optarg, &v))
                return 2;
            if (v < 1 || v > 100000)
                return cli_usage_error(COMMAND, "--max-epochs must be 1..100000, got %lld", v);
            job->max_epochs = (int)v;
            break;
        default:
            return cli_usage_error(COMMAND, "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one CONFIG file");
    job->config_path = argv[optind];
    return 0;
}

int cli_train(int argc, char **argv)
{
    train_job job;
    int parsed = parse_args(argc, argv, &job);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    run_options options = {.config_path = job.config_path, .sets = job.config.sets,
                           .set_count = job.config.set_count, .output_dir = job.config.output,
                           .resume = job.resume, .force_features = job.force_features,
                           .max_epochs = job.max_epochs};
    run_result r;
    dpkit_error err;
    if (run_train(&options, &r, &err)) {
        cli_fail(COMMAND, &err);
        return 1;
    }
    if (!r.finished) {
        run_warn_reproducible_noise(r.reproducible_noise, r.seed);
        return 0;
    }
    cli_print_train_result(&r);
    return 0;
}
