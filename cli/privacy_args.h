/* Options shared by `dpkit epsilon` and `dpkit calibrate`: the sampling rate and steps (or batch
 * size, dataset size and epochs), delta, the accountant, the conversion, extra Gaussian releases
 * and --json; and `dpkit epsilon --ledger FILE`, where a saved ledger replaces the schedule. */
#ifndef DPKIT_CLI_PRIVACY_ARGS_H
#define DPKIT_CLI_PRIVACY_ARGS_H

#include "accountant/accountant.h"

#include <getopt.h>
#include <stdio.h>

#define PRIVACY_ARGS_MAX_EXTRA 64

/* getopt_long codes of the shared options. */
enum {
    PRIVACY_OPT_SAMPLING_RATE = 256,
    PRIVACY_OPT_STEPS,
    PRIVACY_OPT_BATCH_SIZE,
    PRIVACY_OPT_DATASET_SIZE,
    PRIVACY_OPT_EPOCHS,
    PRIVACY_OPT_DELTA,
    PRIVACY_OPT_ACCOUNTANT,
    PRIVACY_OPT_CONVERSION,
    PRIVACY_OPT_EXTRA_GAUSSIAN,
    PRIVACY_OPT_JSON,
    PRIVACY_OPT_SAMPLER
};

#define PRIVACY_ARGS_OPTION_COUNT 11

typedef struct privacy_args {
    double sampling_rate;
    long long steps;
    long long batch_size, dataset_size, epochs;
    double delta;
    int have_sampling_rate, have_steps, have_batch_size, have_dataset_size, have_epochs, have_delta;
    int have_sampler; /* --sampler: options.sampler holds it */
    accountant_options options;
    accountant_event extra[PRIVACY_ARGS_MAX_EXTRA]; /* the --extra-gaussian releases (q = 1) */
    size_t extra_count;
    int json;
    const char *ledger; /* --ledger FILE: the events (and by default delta) come from FILE */
} privacy_args;

void privacy_args_init(privacy_args *args);
/* Handles one shared option. Returns 0 if handled, 2 after printing a usage error, 1 if the
 * option is not a shared one. */
int privacy_args_option(const char *command, privacy_args *args, int option, const char *value);
/* Checks the combination and ranges and derives q and steps from batch/dataset/epochs; 0 or 2. */
int privacy_args_finish(const char *command, privacy_args *args);
/* Parses a whole command line: the shared options, -h/-q/-v and one command-specific number
 * option (`number_option`, e.g. "--epsilon", required), then privacy_args_finish. With
 * `accept_ledger`, --ledger FILE may stand instead of the number and the schedule (then
 * privacy_args_finish_ledger checks the rest). Returns -1 to go on, or the exit code: 0 after
 * printing the help, 2 after a usage error. */
int privacy_args_parse(const char *command, int argc, char **argv, const char *number_option,
                       double *number, int accept_ledger, privacy_args *args,
                       void (*print_help)(FILE *));
/* With --ledger: refuses the options that describe a schedule of their own (the number option
 * when given, --sampling-rate, --steps, --batch-size, --dataset-size, --epochs,
 * --extra-gaussian) and checks --delta when given; 0 or 2. */
int privacy_args_finish_ledger(const char *command, const char *number_option, int have_number,
                               privacy_args *args);
/* Help text of the shared options (one per line, indented like the commands' help). */
void privacy_args_help(FILE *out);
/* Ends the line describing the schedule: ", plus N Gaussian releases with noise multiplier S"
 * for each --extra-gaussian, then a newline. */
void privacy_args_print_extra(const privacy_args *args);
/* "rdp, improved conversion" / "pld" */
const char *privacy_args_describe(const privacy_args *args);

#endif
