/* `dpkit tune`: hyperparameter tuning with a random number of runs (Papernot & Steinke 2022,
 * docs/maths.md 2.11). --draw picks the number of runs K from OS randomness; --ledger records the
 * tuning on a run's privacy ledger, so that the released best run carries the whole epsilon. */
#include "cli/cli.h"

#include "common/rng.h"
#include "dp/run_ledger.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: dpkit tune --eta E --gamma G --draw\n"
            "   or: dpkit tune --eta E --gamma G --ledger MODEL_OR_CHECKPOINT.h5|LEDGER.json\n"
            "                  --output TUNED.json [--delta D]\n"
            "\n"
            "Tuning that trains K runs and releases only the best costs far less privacy than K\n"
            "runs when K is random: K follows the truncated negative binomial distribution with\n"
            "parameters eta > -1 and gamma in (0, 1) (eta = 1: geometric, mean 1/gamma; eta = 0:\n"
            "logarithmic). --draw prints K, drawn from OS randomness (K must stay secret and be\n"
            "drawn before the runs). --ledger takes the ledger of one run (all runs must spend\n"
            "the same), records the tuning and writes it to TUNED.json (atomically): `dpkit\n"
            "epsilon --ledger TUNED.json` then gives the tuned result's epsilon (RDP accountant;\n"
            "the bound is a Renyi one). Prints that epsilon at --delta (default: the delta of\n"
            "the run's config).\n"
            "\n"
            "example (a geometric number of runs, 10 on average):\n"
            "  dpkit tune --eta 1 --gamma 0.1 --draw\n"
            "  dpkit tune --eta 1 --gamma 0.1 --ledger runs/mnist-scatter-linear/model.h5 \\\n"
            "      --output runs/mnist-scatter-linear/tuned-ledger.json\n");
}

/* Records the tuning on the ledger at `path`, writes it to `output`, prints the epsilon. */
static int record(const char *command, const char *path, const char *output, double eta,
                  double gamma, double delta)
{
    run_ledger rl;
    dpkit_error err;
    if (run_ledger_load(path, &rl, &err))
        return cli_fail(command, &err);
    if (isnan(delta))
        delta = rl.delta;
    int status = 0;
    if (!rl.private_mode)
        status = error_set(&err, "%s: the run trained without privacy (privacy.enabled: false); "
                                 "there is no epsilon to tune", path);
    else if (isnan(delta))
        status = error_set(&err, "missing --delta: %s records no config to take it from", path);
    double epsilon = NAN, order = NAN;
    if (status == 0)
        status = accountant_ledger_set_tuning(&rl.ledger, eta, gamma, &err);
    if (status == 0)
        status = accountant_ledger_epsilon(&rl.ledger, delta, NULL, &epsilon, &order, &err);
    if (status == 0)
        status = accountant_ledger_save_json(&rl.ledger, output, &err);
    if (status == 0)
        printf("epsilon = %.6f at delta = %g (RDP order %g) for the best of K runs, K truncated "
               "negative binomial (eta = %g, gamma = %g, E[K] = %.4g); ledger with the tuning: "
               "%s\n", epsilon, delta, order, eta, gamma,
               accountant_tuning_expected_runs(eta, gamma), output);
    run_ledger_free(&rl);
    return status ? cli_fail(command, &err) : 0;
}

int cli_tune(int argc, char **argv)
{
    const char *command = "tune";
    static const struct option options[] = {
        {"eta", required_argument, NULL, 'e'},   {"gamma", required_argument, NULL, 'g'},
        {"draw", no_argument, NULL, 'd'},        {"ledger", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'}, {"delta", required_argument, NULL, 'D'},
        CLI_COMMON_OPTIONS,                      {NULL, 0, NULL, 0}};
    double eta = NAN, gamma = NAN, delta = NAN;
    const char *ledger = NULL, *output = NULL;
    int draw = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int status = 0;
        if (c == 'e')
            status = cli_parse_double(command, "--eta", optarg, &eta);
        else if (c == 'g')
            status = cli_parse_double(command, "--gamma", optarg, &gamma);
        else if (c == 'D')
            status = cli_parse_double(command, "--delta", optarg, &delta);
        else if (c == 'd')
            draw = 1;
        else if (c == 'l')
            ledger = optarg;
        else if (c == 'o')
            output = optarg;
        else if (c == 'h') {
            print_help(stdout);
            return 0;
        } else
            return cli_usage_error(command, "unknown option (see dpkit tune --help)");
        if (status)
            return status;
    }
    if (optind < argc)
        return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
    if (isnan(eta) || isnan(gamma))
        return cli_usage_error(command, "--eta and --gamma are required");
    dpkit_error err;
    if (accountant_tuning_check(eta, gamma, &err) != 0)
        return cli_fail(command, &err);
    if (draw == !!ledger)
        return cli_usage_error(command, "give either --draw or --ledger FILE --output FILE");
    if (!isnan(delta) && !(delta > 0.0 && delta < 1.0))
        return cli_usage_error(command, "--delta must be in (0, 1), got %g", delta);
    size_t length = output ? strlen(output) : 0;
    if (ledger && (length < 5 || strcmp(output + length - 5, ".json") != 0))
        return cli_usage_error(command, "--ledger needs --output TUNED.json (a JSON ledger)");
    if (ledger)
        return record(command, ledger, output, eta, gamma, delta);
    uint8_t key[RNG_KEY_BYTES];
    rng_key_from_os(key);
    rng r;
    rng_init(&r, key, 0);
    printf("K = %lld runs (eta = %g, gamma = %g, E[K] = %.4g; keep K secret)\n",
           accountant_tuning_draw_runs(eta, gamma, rng_uniform(&r)), eta, gamma,
           accountant_tuning_expected_runs(eta, gamma));
    return 0;
}
