/* Shared pieces of the dpkit program: the command table and helpers for option parsing and
 * error reporting. Exit codes: 0 ok, 1 failure while running, 2 bad usage. */
#ifndef DPKIT_CLI_CLI_H
#define DPKIT_CLI_CLI_H

#include "common/config.h"
#include "common/error.h"

#include <getopt.h>
#include <stdio.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    /* argv[0] is the command name; `--help` prints the command's help and returns 0. */
    int (*run)(int argc, char **argv);
} cli_command;

/* One per file under cli/ (cli/<name>.c). */
int cli_data(int argc, char **argv);
int cli_epsilon(int argc, char **argv);
int cli_calibrate(int argc, char **argv);
int cli_scatter(int argc, char **argv);
int cli_features(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_audit_canaries(int argc, char **argv);
int cli_curve(int argc, char **argv);
int cli_robustness(int argc, char **argv);
int cli_tune(int argc, char **argv);

/* Prints "dpkit COMMAND: message" and a hint to use --help; returns 2. */
int cli_usage_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Prints "dpkit COMMAND: error: message"; returns 1. */
int cli_fail(const char *command, const dpkit_error *err);

/* Prints a finished training as `dpkit train` does: accuracy, privacy, model path. */
struct run_result;
void cli_print_train_result(const struct run_result *result);

/* Strict number parsing for option values: the whole text must be a finite number. On failure
 * prints a usage error naming the option and returns 2; returns 0 on success. */
int cli_parse_double(const char *command, const char *option, const char *text, double *out);
int cli_parse_long(const char *command, const char *option, const char *text, long long *out);

/* The options every command shares, as getopt_long entries: --help ('h'), --quiet ('q') and
 * --verbose ('v'). */
#define CLI_COMMON_OPTIONS                                                                     \
    {"help", no_argument, NULL, 'h'}, {"quiet", no_argument, NULL, 'q'},                      \
        {"verbose", no_argument, NULL, 'v'}
/* Handles -q/--quiet and -v/--verbose. Returns 1 if `option` (a getopt_long return value) was
 * one of them. */
int cli_common_option(int option);

/* The command line of a config-driven command (train, audit, ...): one CONFIG file and the
 * shared options --set KEY=VALUE (repeatable), --print-config, --help, -q and -v, plus the
 * command's own `extra` options (zero-terminated getopt_long table; code 'o' is --output DIR
 * and is recorded here). Each other extra option goes to handle(code, value, user), which
 * returns 0 or, after printing a usage error, 2. */
#define CLI_MAX_SETS 64
/* The help lines of the options every config-driven command shares besides --set. */
#define CLI_CONFIG_OPTIONS_HELP                                                                 \
    "  --print-config    print every config key with its default and exit\n"                   \
    "  -q, --quiet       only errors\n"                                                         \
    "  -v, --verbose     more detail\n"                                                         \
    "  -h, --help        show this help\n"
typedef struct cli_config_args {
    const char *config_path;
    const char *sets[CLI_MAX_SETS]; /* in command-line order */
    size_t set_count;
    const char *output; /* NULL when not given */
} cli_config_args;

struct option;
/* Returns 0 when parsed, 1 after printing the help or the schema (exit 0), 2 after a usage
 * error. */
int cli_parse_config_command(const char *command, int argc, char **argv,
                             const struct option *extra, const config_field *schema,
                             void (*print_help)(void), cli_config_args *args,
                             int (*handle)(int code, const char *value, void *user), void *user);

#endif
