/* Helpers shared by the dpkit subcommands (see cli.h). */
#include "cli/cli.h"

#include "common/log.h"
#include "dp/run_config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *command, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "dpkit %s: ", command);
    vfprintf(stderr, format, args);
    fprintf(stderr, "\nTry 'dpkit %s --help'.\n", command);
    va_end(args);
    return 2;
}

int cli_fail(const char *command, const dpkit_error *err)
{
    fprintf(stderr, "dpkit %s: error: %s\n", command, err->message);
    return 1;
}

void cli_print_train_result(const run_result *r)
{
    printf("%s: test accuracy %.4f", r->name, r->test_accuracy);
    if (r->private_mode)
        printf(" at epsilon %.4g, delta %g (%s, sigma %.4g, %lld steps)\n", r->epsilon, r->delta,
               r->accountant == ACCOUNTANT_PLD ? "pld" : "rdp", r->noise_multiplier, r->steps);
    else
        printf(" without privacy (%lld steps)\n", r->steps);
    printf("model: %s\n", r->model_path);
    fflush(stdout); /* the closing reproducible-noise warning comes last */
    run_warn_reproducible_noise(r->reproducible_noise, r->seed);
}

int cli_parse_double(const char *command, const char *option, const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(value))
        return cli_usage_error(command, "%s expects a number, got '%s'", option, text);
    *out = value;
    return 0;
}

int cli_parse_long(const char *command, const char *option, const char *text, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE)
        return cli_usage_error(command, "%s expects an integer, got '%s'", option, text);
    *out = value;
    return 0;
}

int cli_common_option(int option)
{
    if (option == 'q') {
        log_set_level(DPKIT_LOG_ERROR);
        return 1;
    }
    if (option == 'v') {
        log_set_level(DPKIT_LOG_DEBUG);
        return 1;
    }
    return 0;
}

enum { MAX_OPTIONS = 16 };

int cli_parse_config_command(const char *command, int argc, char **argv,
                             const struct option *extra, const config_field *schema,
                             void (*print_help)(void), cli_config_args *args,
                             int (*handle)(int code, const char *value, void *user), void *user)
{
    static const struct option shared[] = {
        {"set", required_argument, NULL, 's'}, {"print-config", no_argument, NULL, 'p'},
        CLI_COMMON_OPTIONS};
    struct option options[MAX_OPTIONS + 1] = {{0}};
    size_t n = 0;
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        options[n++] = shared[i];
    for (size_t i = 0; extra && extra[i].name && n < MAX_OPTIONS; i++)
        options[n++] = extra[i];
    memset(args, 0, sizeof *args);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        switch (c) {
        case 'h':
            print_help();
            return 1;
        case 'p':
            config_print_schema(stdout, schema);
            return 1;
        case 's':
            if (args->set_count == CLI_MAX_SETS)
                return cli_usage_error(command, "at most %d --set options", CLI_MAX_SETS);
            args->sets[args->set_count++] = optarg;
            break;
        case 'o':
            args->output = optarg;
            break;
        case '?':
            return cli_usage_error(command, "unknown option");
        default:
            if (!handle || handle(c, optarg, user))
                return 2;
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(command, "expected one CONFIG file");
    args->config_path = argv[optind];
    return 0;
}
