/* Helpers shared by the dpkit subcommands (see cli.h). */
#include "cli/cli.h"

#include "common/log.h"
#include "dp/run_config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

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

int cli_config_option(const char *command, int option, const char *value,
                      const config_field *schema, void (*print_help)(void),
                      cli_config_args *args)
{
    switch (option) {
    case 'h':
        print_help();
        return 1;
    case 'p':
        config_print_schema(stdout, schema);
        return 1;
    case 's':
        if (args->set_count == CLI_MAX_SETS)
            return cli_usage_error(command, "at most %d --set options", CLI_MAX_SETS);
        args->sets[args->set_count++] = value;
        return 0;
    case 'o':
        args->output = value;
        return 0;
    default:
        return -1;
    }
}
