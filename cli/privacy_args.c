/* Parsing of the options shared by `dpkit epsilon` and `dpkit calibrate` (see privacy_args.h). */
#include "cli/privacy_args.h"

#include "cli/cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct option shared_options[PRIVACY_ARGS_OPTION_COUNT] = {
    {"sampling-rate", required_argument, NULL, PRIVACY_OPT_SAMPLING_RATE},
    {"steps", required_argument, NULL, PRIVACY_OPT_STEPS},
    {"batch-size", required_argument, NULL, PRIVACY_OPT_BATCH_SIZE},
    {"dataset-size", required_argument, NULL, PRIVACY_OPT_DATASET_SIZE},
    {"epochs", required_argument, NULL, PRIVACY_OPT_EPOCHS},
    {"delta", required_argument, NULL, PRIVACY_OPT_DELTA},
    {"accountant", required_argument, NULL, PRIVACY_OPT_ACCOUNTANT},
    {"conversion", required_argument, NULL, PRIVACY_OPT_CONVERSION},
    {"extra-gaussian", required_argument, NULL, PRIVACY_OPT_EXTRA_GAUSSIAN},
    {"json", no_argument, NULL, PRIVACY_OPT_JSON},
    {"sampler", required_argument, NULL, PRIVACY_OPT_SAMPLER},
};

enum { OPT_NUMBER = 400, OPT_LEDGER };

int privacy_args_parse(const char *command, int argc, char **argv, const char *number_option,
                       double *number, int accept_ledger, privacy_args *args,
                       void (*print_help)(FILE *))
{
    struct option table[4 + PRIVACY_ARGS_OPTION_COUNT + 2] = {
        {number_option + 2, required_argument, NULL, OPT_NUMBER}, /* without the leading "--" */
        CLI_COMMON_OPTIONS};
    memcpy(table + 4, shared_options, sizeof shared_options); /* the last entries stay zero */
    if (accept_ledger)
        table[4 + PRIVACY_ARGS_OPTION_COUNT] =
            (struct option){"ledger", required_argument, NULL, OPT_LEDGER};
    privacy_args_init(args);
    int have_number = 0;
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "hqv", table, NULL)) != -1) {
        if (option == 'h') {
            print_help(stdout);
            return 0;
        }
        if (cli_common_option(option))
            continue;
        if (option == OPT_NUMBER) {
            have_number = 1;
            if (cli_parse_double(command, number_option, optarg, number) != 0)
                return 2;
            continue;
        }
        if (option == OPT_LEDGER) {
            args->ledger = optarg;
            continue;
        }
        if (option == '?')
            return cli_usage_error(command, "unknown option or missing value: '%s'",
                                   argv[optind - 1]);
        if (privacy_args_option(command, args, option, optarg) != 0)
            return 2;
    }
    if (optind < argc)
        return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
    if (args->ledger)
        return privacy_args_finish_ledger(command, number_option, have_number, args) ? 2 : -1;
    if (!have_number)
        return cli_usage_error(command, "missing %s", number_option);
    return privacy_args_finish(command, args) ? 2 : -1;
}

void privacy_args_init(privacy_args *args)
{
    memset(args, 0, sizeof *args);
    accountant_options_default(&args->options);
}

static int parse_extra_gaussian(const char *command, privacy_args *args, const char *value)
{
    const char *colon = strchr(value, ':');
    if (!colon)
        return cli_usage_error(command, "--extra-gaussian expects SIGMA:COUNT, got '%s'", value);
    char sigma_text[64];
    size_t n = (size_t)(colon - value);
    if (n == 0 || n >= sizeof sigma_text)
        return cli_usage_error(command, "--extra-gaussian expects SIGMA:COUNT, got '%s'", value);
    memcpy(sigma_text, value, n);
    sigma_text[n] = '\0';
    double sigma;
    long long count;
    if (cli_parse_double(command, "--extra-gaussian SIGMA", sigma_text, &sigma) != 0 ||
        cli_parse_long(command, "--extra-gaussian COUNT", colon + 1, &count) != 0)
        return 2;
    if (sigma < 0.0)
        return cli_usage_error(command, "--extra-gaussian SIGMA must be >= 0, got %g", sigma);
    if (count < 0)
        return cli_usage_error(command, "--extra-gaussian COUNT must be >= 0, got %lld", count);
    if (args->extra_count == PRIVACY_ARGS_MAX_EXTRA)
        return cli_usage_error(command, "at most %d --extra-gaussian options",
                               PRIVACY_ARGS_MAX_EXTRA);
    accountant_event *e = &args->extra[args->extra_count++];
    e->sampling_rate = 1.0;
    e->noise_multiplier = sigma;
    e->count = count;
    snprintf(e->label, sizeof e->label, "extra-gaussian");
    return 0;
}

int privacy_args_option(const char *command, privacy_args *args, int option, const char *value)
{
    dpkit_error err;
    switch (option) {
    case PRIVACY_OPT_SAMPLING_RATE:
        args->have_sampling_rate = 1;
        return cli_parse_double(command, "--sampling-rate", value, &args->sampling_rate);
    case PRIVACY_OPT_STEPS:
        args->have_steps = 1;
        return cli_parse_long(command, "--steps", value, &args->steps);
    case PRIVACY_OPT_BATCH_SIZE:
        args->have_batch_size = 1;
        return cli_parse_long(command, "--batch-size", value, &args->batch_size);
    case PRIVACY_OPT_DATASET_SIZE:
        args->have_dataset_size = 1;
        return cli_parse_long(command, "--dataset-size", value, &args->dataset_size);
    case PRIVACY_OPT_EPOCHS:
        args->have_epochs = 1;
        return cli_parse_long(command, "--epochs", value, &args->epochs);
    case PRIVACY_OPT_DELTA:
        args->have_delta = 1;
        return cli_parse_double(command, "--delta", value, &args->delta);
    case PRIVACY_OPT_ACCOUNTANT:
        if (accountant_kind_parse(value, &args->options.kind, &err) != 0)
            return cli_usage_error(command, "--accountant: %s", err.message);
        return 0;
    case PRIVACY_OPT_CONVERSION:
        if (accountant_conversion_parse(value, &args->options.conversion, &err) != 0)
            return cli_usage_error(command, "--conversion: %s", err.message);
        return 0;
    case PRIVACY_OPT_EXTRA_GAUSSIAN:
        return parse_extra_gaussian(command, args, value);
    case PRIVACY_OPT_JSON:
        args->json = 1;
        return 0;
    case PRIVACY_OPT_SAMPLER:
        args->have_sampler = 1;
        if (accountant_sampler_parse(value, &args->options.sampler, &err) != 0)
            return cli_usage_error(command, "--sampler: %s", err.message);
        return 0;
    default:
        return 1;
    }
}

int privacy_args_finish(const char *command, privacy_args *args)
{
    int direct = args->have_sampling_rate || args->have_steps;
    int epochs = args->have_batch_size || args->have_dataset_size || args->have_epochs;
    if (direct && epochs)
        return cli_usage_error(command, "give either --sampling-rate and --steps, or "
                                        "--batch-size, --dataset-size and --epochs, not both");
    if (!direct && !epochs)
        return cli_usage_error(command, "missing --sampling-rate and --steps (or --batch-size, "
                                        "--dataset-size and --epochs)");
    if (direct) {
        if (!args->have_sampling_rate)
            return cli_usage_error(command, "missing --sampling-rate");
        if (!args->have_steps)
            return cli_usage_error(command, "missing --steps");
    } else {
        if (!args->have_batch_size)
            return cli_usage_error(command, "missing --batch-size");
        if (!args->have_dataset_size)
            return cli_usage_error(command, "missing --dataset-size");
        if (!args->have_epochs)
            return cli_usage_error(command, "missing --epochs");
        if (args->dataset_size <= 0)
            return cli_usage_error(command, "--dataset-size must be positive, got %lld",
                                   args->dataset_size);
        if (args->batch_size <= 0 || args->batch_size > args->dataset_size)
            return cli_usage_error(command, "--batch-size must be in 1..%lld (the dataset size), "
                                            "got %lld", args->dataset_size, args->batch_size);
        if (args->epochs < 0)
            return cli_usage_error(command, "--epochs must be >= 0, got %lld", args->epochs);
        /* As Tramer & Boneh's code: q = B/N and floor(N/B) steps per epoch; a product past
         * 2^63 - 1 is refused rather than wrapped (signed overflow is undefined). */
        args->sampling_rate = (double)args->batch_size / (double)args->dataset_size;
        /* Random allocation: floor(N/B) steps per epoch, each example in one (q = 1/t). */
        if (args->options.sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
            args->sampling_rate = 1.0 / (double)(args->dataset_size / args->batch_size);
        if (__builtin_mul_overflow(args->dataset_size / args->batch_size, args->epochs,
                                   &args->steps))
            return cli_usage_error(command, "--dataset-size %lld / --batch-size %lld * --epochs "
                                            "%lld overflows the step count (at most %lld steps)",
                                   args->dataset_size, args->batch_size, args->epochs,
                                   (long long)INT64_MAX);
    }
    if (!(args->sampling_rate > 0.0 && args->sampling_rate <= 1.0))
        return cli_usage_error(command, "--sampling-rate must be in (0, 1], got %g",
                               args->sampling_rate);
    if (args->steps < 0)
        return cli_usage_error(command, "--steps must be >= 0, got %lld", args->steps);
    if (!args->have_delta)
        return cli_usage_error(command, "missing --delta");
    if (!(args->delta > 0.0 && args->delta < 1.0))
        return cli_usage_error(command, "--delta must be in (0, 1), got %g", args->delta);
    return 0;
}

int privacy_args_finish_ledger(const char *command, const char *number_option, int have_number,
                               privacy_args *args)
{
    /* Each of these describes privacy events of its own, which the ledger's would silently
     * replace or be added to: refused rather than guessed. */
    const int given[] = {have_number, args->have_sampling_rate, args->have_steps,
                         args->have_batch_size, args->have_dataset_size, args->have_epochs,
                         args->extra_count > 0, args->have_sampler};
    const char *const names[] = {number_option, "--sampling-rate", "--steps", "--batch-size",
                                 "--dataset-size", "--epochs", "--extra-gaussian", "--sampler"};
    char list[256] = "";
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++)
        if (given[i])
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                     list[0] ? ", " : "", names[i]);
    if (list[0])
        return cli_usage_error(command, "--ledger takes the privacy events from %s; it cannot be "
                                        "combined with %s", args->ledger, list);
    if (args->have_delta && !(args->delta > 0.0 && args->delta < 1.0))
        return cli_usage_error(command, "--delta must be in (0, 1), got %g", args->delta);
    return 0;
}

void privacy_args_help(FILE *out)
{
    fprintf(out,
            "  --sampling-rate Q      sampling rate of each step, in (0, 1]\n"
            "  --sampler poisson|random-allocation\n"
            "                         Poisson sampling (default), or random allocation: each\n"
            "                         example in exactly one of the 1/Q steps of each epoch\n"
            "                         (1/Q a whole number; RDP accountant only)\n"
            "  --steps T              number of DP-SGD steps (integer >= 0)\n"
            "  --batch-size B, --dataset-size N, --epochs E\n"
            "                         instead of Q and T: q = B/N and T = floor(N/B) * E, as in\n"
            "                         Tramer & Boneh's code\n"
            "  --delta D              target delta, in (0, 1)\n"
            "  --accountant rdp|pld   RDP (default) or the tighter PLD accountant\n"
            "  --conversion improved|classic\n"
            "                         RDP to (epsilon, delta): improved (default; Opacus, TF\n"
            "                         Privacy) or classic (Mironov 2017; older papers)\n"
            "  --extra-gaussian SIGMA:COUNT\n"
            "                         also account COUNT full-batch Gaussian releases with noise\n"
            "                         multiplier SIGMA (e.g. private batch-norm statistics, 8:2);\n"
            "                         may be repeated\n"
            "  --json                 print one JSON object instead of text\n"
            "  -q, -v                 quieter / more verbose\n"
            "  -h, --help             show this help\n");
}

const char *privacy_args_describe(const privacy_args *args)
{
    if (args->options.kind == ACCOUNTANT_PLD)
        return "PLD accountant";
    if (args->options.sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
        return args->options.conversion == ACCOUNTANT_CONVERSION_CLASSIC
                   ? "RDP accountant, classic conversion, random allocation"
                   : "RDP accountant, improved conversion, random allocation";
    return args->options.conversion == ACCOUNTANT_CONVERSION_CLASSIC
               ? "RDP accountant, classic conversion"
               : "RDP accountant, improved conversion";
}

void privacy_args_print_extra(const privacy_args *args)
{
    for (size_t i = 0; i < args->extra_count; i++)
        printf(", plus %lld Gaussian releases with noise multiplier %g", args->extra[i].count,
               args->extra[i].noise_multiplier);
    printf("\n");
}
