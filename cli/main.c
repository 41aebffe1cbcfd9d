/* The dpkit program: dispatches `dpkit <command> [options]` to the command's file in cli/. */
#include "cli/cli.h"

#include "common/log.h"
#include "common/parallel.h"
#include "mpi/parallel_mpi.h"
#include "common/spelling.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    /* name, summary, entry point: one line per command (cli/<name>.c) */
    {"epsilon", "privacy spent by DP-SGD: epsilon for given noise, sampling rate, steps, or of a saved ledger", cli_epsilon},
    {"calibrate", "noise multiplier that keeps DP-SGD within an (epsilon, delta) budget", cli_calibrate},
    {"scatter", "scattering transform (ScatterNet, Kymatio-compatible) of an HDF5 image array", cli_scatter},
    {"data", "list, inspect and fetch datasets (MNIST, Fashion-MNIST, CIFAR-10, text)", cli_data},
    {"features", "compute and cache the features (ScatterNet, HOG, raw) of a training config", cli_features},
    {"train", "train a classifier with DP-SGD from a config file", cli_train},
    {"eval", "accuracy of a trained model on a dataset split", cli_eval},
    {"audit", "empirical privacy audits: membership inference, one-run and multi-run epsilon lower bounds", cli_audit},
    {"curve", "accuracy against epsilon: train a grid of points and plot them", cli_curve},
    {"tune", "hyperparameter tuning with a random number of runs: draw it, record its privacy cost", cli_tune},
    {"audit-canaries", "Secret Sharer audit: canary exposure and extraction on a character model", cli_audit_canaries},
    {"robustness", "adversarial robustness of trained models: PGD and C&W attacks, smoothing certificates", cli_robustness},
    {NULL, NULL, NULL},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: dpkit [-q|-v] <command> [options]\n"
            "\n"
            "dpkit trains classifiers with differential privacy (DP-SGD) on handcrafted features,\n"
            "accounts for the privacy they spend, and audits how much a trained model leaks.\n"
            "\n"
            "commands:\n");
    for (const cli_command *c = commands; c->name; c++)
        fprintf(out, "  %-15s %s\n", c->name, c->summary);
    fprintf(out, "  %-15s %s\n", "help", "show the help of a command: dpkit help <command>");
    fprintf(out,
            "\n"
            "options:\n"
            "  -h, --help     show this help\n"
            "  --version      print the version\n"
            "  -q, -v         quieter / more verbose (also accepted after the command)\n"
            "\n"
            "Run 'dpkit <command> --help' for the options of a command.\n");
}

static const cli_command *find_command(const char *name)
{
    for (const cli_command *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

enum { COMMAND_COUNT = sizeof commands / sizeof commands[0] - 1 };

/* "unknown command 'traim' (did you mean 'train'?)", then the usage; returns 2. */
static int unknown_command(const char *name)
{
    const char *names[COMMAND_COUNT + 1];
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        names[i] = commands[i].name;
    names[COMMAND_COUNT] = "help";
    long nearest = spelling_nearest(name, names, COMMAND_COUNT + 1);
    if (nearest >= 0)
        fprintf(stderr, "dpkit: unknown command '%s' (did you mean '%s'?)\n\n", name,
                names[nearest]);
    else
        fprintf(stderr, "dpkit: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return 2;
}

static void print_help_help(void)
{
    printf("usage: dpkit help [<command>]\n"
           "\n"
           "Shows the help of a command, as 'dpkit <command> --help' does; without a command, the\n"
           "list of commands.\n"
           "\n"
           "example:\n"
           "  dpkit help train\n");
}

int main(int argc, char **argv)
{
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        const char *a = argv[first];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("dpkit %s\n", DPKIT_VERSION);
            return 0;
        }
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
            log_set_level(DPKIT_LOG_ERROR);
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
            log_set_level(DPKIT_LOG_DEBUG);
        else {
            fprintf(stderr, "dpkit: unknown option '%s'\n\n", a);
            print_usage(stderr);
            return 2;
        }
        first++;
    }
    if (first >= argc) {
        print_usage(stderr);
        return 2;
    }
    const char *name = argv[first];
    /* `dpkit help --help` and `dpkit help help` describe help itself */
    int help_of_help = strcmp(name, "help") == 0 && first + 1 < argc &&
                       (strcmp(argv[first + 1], "help") == 0 ||
                        strcmp(argv[first + 1], "--help") == 0 || strcmp(argv[first + 1], "-h") == 0);
    if (help_of_help) {
        print_help_help();
        return 0;
    }
    if (strcmp(name, "help") == 0) {
        if (first + 1 >= argc) {
            print_usage(stdout);
            return 0;
        }
        const cli_command *c = find_command(argv[first + 1]);
        if (!c)
            return unknown_command(argv[first + 1]);
        char *help_argv[] = {(char *)c->name, "--help", NULL};
        return c->run(2, help_argv);
    }
    const cli_command *c = find_command(name);
    if (!c)
        return unknown_command(name);
    /* Under mpirun every rank runs the command; rank 0 alone reports progress (docs/mpi.md). */
    dpkit_error err;
    if (parallel_mpi_init(&err)) {
        fprintf(stderr, "dpkit: error: %s\n", err.message);
        return 2;
    }
    if (parallel_world_rank() != 0 && log_get_level() > DPKIT_LOG_WARN)
        log_set_level(DPKIT_LOG_WARN);
    int status = c->run(argc - first, argv + first);
    parallel_mpi_finish();
    return status;
}
