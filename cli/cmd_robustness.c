/* dpkit robustness: attacks and certificates on trained models. Parses the command line, runs
 * the library's robustness experiment (robust/robustness.c) and prints the result. */
#include "cli/cli.h"
#include "robust/robustness.h"

#include <getopt.h>
#include <stdio.h>

#define COMMAND "robustness"

static void print_help(void)
{
    printf("usage: dpkit robustness ROBUSTNESS.yaml [--set key=value]...\n"
           "\n"
           "Adversarial robustness of trained models (model.h5 files written by 'dpkit train').\n"
           "Each model is attacked from the pixels of the first data.count inputs of its dataset's\n"
           "split, through its feature extractor and normaliser: PGD (L-inf or L2) at every radius\n"
           "of attack.epsilons, or Carlini & Wagner L2 once (robust at a radius: no smaller\n"
           "perturbation found). With smoothing.count > 0 the first inputs are also certified by\n"
           "randomized smoothing (Cohen et al. 2019). Writes OUTPUT/report.json, OUTPUT/robustness.h5\n"
           "(every input's label, clean prediction, result under attack, certificate), and the\n"
           "figures OUTPUT/robust.png (accuracy against the radius, one line per model) and\n"
           "OUTPUT/privacy.png (robust accuracy at attack.figure_epsilon against each model's DP\n"
           "epsilon from its own ledger, one line per models[].line), each with .pdf, .svg, .gp\n"
           "and data beside it. Attacking a model costs no privacy.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the config (repeatable)\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit robustness configs/robustness-mnist.yaml --set data.count=200\n");
}

int cli_robustness(int argc, char **argv)
{
    static const struct option extra[] = {{NULL, 0, NULL, 0}};
    cli_config_args args;
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, robustness_schema,
                                          print_help, &args, NULL, NULL);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    robustness r;
    dpkit_error err;
    int status = robustness_load(args.config_path, args.sets, args.set_count, &r, &err) ||
                 robustness_run(&r, &err);
    for (size_t m = 0; !status && m < r.model_count; m++) {
        const robustness_model *rm = &r.models[m];
        printf("%s: DP epsilon %.4g, clean %.4f", rm->label, rm->dp_epsilon, rm->clean_accuracy);
        for (size_t e = 0; e < r.epsilon_count; e++)
            printf(", %g: %.4f", r.epsilons[e], rm->robust_accuracy[e]);
        if (rm->certified_count)
            printf(", certified at %g: %.4f", r.radii[r.radius_count - 1],
                   rm->certified_accuracy[r.radius_count - 1]);
        printf(" (%zu inputs, %.0f s)\n", rm->count, rm->seconds);
    }
    if (!status)
        printf("%s: %s/report.json, robustness.h5, robust.png, privacy.png\n", r.name, r.dir);
    robustness_free(&r);
    return status ? cli_fail(COMMAND, &err) : 0;
}
