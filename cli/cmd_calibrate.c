/* `dpkit calibrate`: the smallest noise multiplier with which DP-SGD stays within a target
 * (epsilon, delta) budget for a given sampling rate and number of steps. */
#include "cli/cli.h"
#include "cli/privacy_args.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>

static void print_help(FILE *out)
{
    fprintf(out,
            "usage: dpkit calibrate --epsilon E --delta D --sampling-rate Q --steps T\n"
            "                       [--accountant rdp|pld] [--conversion improved|classic]\n"
            "                       [--extra-gaussian SIGMA:COUNT]... [--json]\n"
            "   or: dpkit calibrate --epsilon E --delta D --batch-size B --dataset-size N\n"
            "                       --epochs E [...]\n"
            "\n"
            "Prints the smallest noise multiplier (to a relative 1e-7, always on the safe side)\n"
            "with which T steps of DP-SGD at sampling rate Q, after the extra Gaussian releases,\n"
            "spend at most epsilon at the given delta. The RDP accountant searches orders past\n"
            "the default grid (up to 1024) where the bound keeps falling; where even order 1024\n"
            "is not enough (very small epsilon) it refuses and names --accountant pld, rather\n"
            "than overstate the noise.\n"
            "\n"
            "options:\n"
            "  --epsilon E            target epsilon (> 0)\n");
    privacy_args_help(out);
    fprintf(out,
            "\n"
            "With --json: {\"noise_multiplier\": S, \"epsilon\": E, \"delta\": D, ...}.\n"
            "\n"
            "example (Tramer & Boneh, ScatterNet+linear on MNIST with private batch norm):\n"
            "  dpkit calibrate --epsilon 3 --delta 1e-5 --batch-size 4096 --dataset-size 60000 \\\n"
            "      --epochs 40 --extra-gaussian 8:2 --conversion classic\n");
}

int cli_calibrate(int argc, char **argv)
{
    const char *command = "calibrate";
    privacy_args args;
    double epsilon = 0.0;
    int status = privacy_args_parse(command, argc, argv, "--epsilon", &epsilon, 0, &args,
                                    print_help);
    if (status >= 0)
        return status;
    if (!(epsilon > 0.0))
        return cli_usage_error(command, "--epsilon must be positive, got %g", epsilon);
    if (args.steps == 0)
        return cli_usage_error(command, "--steps must be positive to calibrate noise");

    double sigma;
    dpkit_error err;
    if (accountant_calibrate_noise(epsilon, args.delta, args.sampling_rate, args.steps, args.extra,
                                   args.extra_count, &args.options, &sigma, &err) != 0)
        return cli_fail(command, &err);
    if (args.json) {
        printf("{\"noise_multiplier\": %.17g, \"epsilon\": %.17g, \"delta\": %.17g, "
               "\"sampling_rate\": %.17g, \"steps\": %lld, \"accountant\": \"%s\", "
               "\"conversion\": \"%s\"}\n",
               sigma, epsilon, args.delta, args.sampling_rate, args.steps,
               args.options.kind == ACCOUNTANT_PLD ? "pld" : "rdp",
               args.options.conversion == ACCOUNTANT_CONVERSION_CLASSIC ? "classic" : "improved");
        return 0;
    }
    printf("noise multiplier = %.4f for epsilon = %g at delta = %g\n", sigma, epsilon, args.delta);
    printf("%s; q = %.6g, %lld steps", privacy_args_describe(&args), args.sampling_rate,
           args.steps);
    privacy_args_print_extra(&args);
    return 0;
}
