/* `dpkit epsilon`: the privacy DP-SGD spends, epsilon at a given delta, from the sampling rate,
 * noise multiplier and number of steps (plus extra Gaussian releases). */
#include "cli/cli.h"
#include "cli/privacy_args.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: dpkit epsilon --sampling-rate Q --noise-multiplier S --steps T --delta D\n"
            "                     [--accountant rdp|pld] [--conversion improved|classic]\n"
            "                     [--extra-gaussian SIGMA:COUNT]... [--json]\n"
            "   or: dpkit epsilon --batch-size B --dataset-size N --epochs E --noise-multiplier S\n"
            "                     --delta D [...]\n"
            "\n"
            "Prints the epsilon that T steps of DP-SGD (Poisson sampling at rate Q, Gaussian noise\n"
            "with multiplier S) spend at the given delta, and for RDP the order that attains it.\n"
            "\n"
            "options:\n"
            "  --noise-multiplier S   noise standard deviation / clipping norm (>= 0; 0 = no\n"
            "                         privacy, epsilon = inf)\n");
    privacy_args_help(out);
    fprintf(out,
            "\n"
            "With --json: {\"epsilon\": E, \"delta\": D, \"order\": A, \"order_at_edge\": B,\n"
            "\"accountant\": \"rdp\", ...} (order is null for the PLD accountant or an infinite\n"
            "epsilon, epsilon null when infinite; order_at_edge is true when the best RDP order is\n"
            "the smallest or largest tried, 1.1 or 1024, where the bound may be loose).\n"
            "Noise so small that its square underflows (< 1.5e-154) gives epsilon = inf.\n"
            "\n"
            "example (Tramer & Boneh, ScatterNet+linear on CIFAR-10):\n"
            "  dpkit epsilon --batch-size 8192 --dataset-size 50000 --epochs 60 \\\n"
            "      --noise-multiplier 5.67 --delta 1e-5 --extra-gaussian 8:2 --conversion classic\n");
}

static void print_json_number(double value)
{
    if (isfinite(value))
        printf("%.17g", value);
    else
        printf("null");
}

int cli_epsilon(int argc, char **argv)
{
    const char *command = "epsilon";
    privacy_args args;
    double sigma = 0.0;
    int status = privacy_args_parse(command, argc, argv, "--noise-multiplier", &sigma, &args,
                                    print_help);
    if (status >= 0)
        return status;
    if (sigma < 0.0)
        return cli_usage_error(command, "--noise-multiplier must be >= 0, got %g", sigma);

    accountant_event events[PRIVACY_ARGS_MAX_EXTRA + 1];
    size_t count = 0;
    for (size_t i = 0; i < args.extra_count; i++)
        events[count++] = args.extra[i];
    events[count++] = (accountant_event){args.sampling_rate, sigma, args.steps, "dp-sgd"};
    double epsilon, order;
    dpkit_error err;
    if (accountant_epsilon(events, count, args.delta, &args.options, &epsilon, &order, &err) != 0)
        return cli_fail(command, &err);
    const char *kind = args.options.kind == ACCOUNTANT_PLD ? "pld" : "rdp";
    /* The bound might fall further past the smallest or largest order tried (1.1, 1024). */
    int at_edge = isfinite(order) && epsilon > 0.0 && isfinite(epsilon) &&
                  accountant_rdp_order_at_edge(order);
    if (args.json) {
        printf("{\"epsilon\": ");
        print_json_number(epsilon);
        printf(", \"delta\": %.17g, \"order\": ", args.delta);
        print_json_number(order);
        printf(", \"order_at_edge\": %s", at_edge ? "true" : "false");
        printf(", \"accountant\": \"%s\", \"conversion\": \"%s\", \"sampling_rate\": %.17g, "
               "\"noise_multiplier\": %.17g, \"steps\": %lld}\n",
               kind,
               args.options.conversion == ACCOUNTANT_CONVERSION_CLASSIC ? "classic" : "improved",
               args.sampling_rate, sigma, args.steps);
        return 0;
    }
    /* Huge values (tiny noise) in %g rather than a 300-digit %f. */
    printf(epsilon < 1e9 ? "epsilon = %.6f at delta = %g" : "epsilon = %.6g at delta = %g",
           epsilon, args.delta);
    if (isfinite(order))
        printf(" (RDP order %g)", order);
    printf("\n%s; q = %.6g, noise multiplier %g, %lld steps", privacy_args_describe(&args),
           args.sampling_rate, sigma, args.steps);
    for (size_t i = 0; i < args.extra_count; i++)
        printf(", plus %lld Gaussian releases with noise multiplier %g", args.extra[i].count,
               args.extra[i].noise_multiplier);
    printf("\n");
    if (at_edge)
        printf("note: the best RDP order, %g, is the %s order tried: epsilon is a valid bound "
               "but may be loose (--accountant pld is tighter)\n",
               order, order >= ACCOUNTANT_RDP_MAX_ORDER ? "largest" : "smallest");
    return 0;
}
