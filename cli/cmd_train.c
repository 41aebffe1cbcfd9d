/* dpkit train: parses the command line, runs the library's training driver (dp/run.c) and
 * prints the result. */
#include "cli/cli.h"
#include "common/parallel.h"
#include "dp/run_config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "train"

static void print_help(void)
{
    printf("usage: dpkit train CONFIG.yaml [--set key=value]... [--resume | --overwrite] "
           "[options]\n"
           "\n"
           "Trains a classifier with DP-SGD as the config says: computes (or loads from the cache)\n"
           "the features, fits the normalisation (private-bn statistics are released with noise\n"
           "and recorded in the privacy ledger), calibrates the noise multiplier to privacy.epsilon\n"
           "over training.epochs unless privacy.noise_multiplier is given, then trains with Poisson\n"
           "sampling, per-example clipping and Gaussian noise. Every epoch appends a line to\n"
           "metrics.jsonl and writes checkpoint.h5; at the end model.h5 and summary.json.\n"
           "After each epoch the log line ends with the run's elapsed time and time left.\n"
           "\n"
           "One run per directory: a run directory that already holds model.h5 or\n"
           "checkpoint.h5 is refused unless --resume continues that run or --overwrite\n"
           "replaces it.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable), e.g. --set privacy.epsilon=1\n"
           "  --resume          continue from OUTPUT_DIR/checkpoint.h5 (same config)\n"
           "  --overwrite       replace the run OUTPUT_DIR holds (its model.h5, checkpoint.h5,\n"
           "                    metrics.jsonl and summary.json are removed first)\n"
           "  --max-epochs N    stop after N epochs in this invocation (resume later)\n"
           "  --force-features  recompute the features even if cached\n"
           "  --output DIR      run directory (default output.dir, or runs/<name>)\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit train configs/mnist-scatter-linear.yaml --set training.epochs=10\n");
}

typedef struct train_flags {
    int resume, overwrite, force_features, max_epochs;
} train_flags;

static int train_option(int code, const char *value, void *user)
{
    train_flags *flags = user;
    long long v;
    switch (code) {
    case 'r':
        flags->resume = 1;
        return 0;
    case 'f':
        flags->force_features = 1;
        return 0;
    case 'w':
        flags->overwrite = 1;
        return 0;
    default: /* 'm' */
        if (cli_parse_long(COMMAND, "--max-epochs", value, &v))
            return 2;
        if (v < 1 || v > 100000)
            return cli_usage_error(COMMAND, "--max-epochs must be 1..100000, got %lld", v);
        flags->max_epochs = (int)v;
        return 0;
    }
}

int cli_train(int argc, char **argv)
{
    static const struct option extra[] = {
        {"resume", no_argument, NULL, 'r'},      {"max-epochs", required_argument, NULL, 'm'},
        {"force-features", no_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"overwrite", no_argument, NULL, 'w'},      {NULL, 0, NULL, 0}};
    cli_config_args args;
    train_flags flags = {0};
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, run_config_schema,
                                          print_help, &args, train_option, &flags);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    if (flags.resume && flags.overwrite)
        return cli_usage_error(COMMAND, "--resume continues the run and --overwrite replaces "
                                        "it: give one of them");
    run_options options = {.config_path = args.config_path, .sets = args.sets,
                           .set_count = args.set_count, .output_dir = args.output,
                           .resume = flags.resume, .overwrite = flags.overwrite,
                           .force_features = flags.force_features,
                           .max_epochs = flags.max_epochs};
    run_result r;
    dpkit_error err;
    if (run_train(&options, &r, &err)) {
        cli_fail(COMMAND, &err);
        return 1;
    }
    if (parallel_world_rank() != 0) /* under mpirun, rank 0 reports */
        return 0;
    if (!r.finished) {
        run_warn_reproducible_noise(r.reproducible_noise, r.seed);
        return 0;
    }
    cli_print_train_result(&r);
    return 0;
}
