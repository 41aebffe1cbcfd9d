/* `dpkit epsilon`: the privacy DP-SGD spends, epsilon at a given delta, from the sampling rate,
 * noise multiplier and number of steps (plus extra Gaussian releases), or from the privacy
 * ledger a run saved (--ledger). */
#include "cli/cli.h"
#include "cli/privacy_args.h"

#include "common/json.h"
#include "dp/run_ledger.h"

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
            "   or: dpkit epsilon --ledger MODEL_OR_CHECKPOINT.h5|LEDGER.json [--delta D]\n"
            "                     [--accountant rdp|pld] [--conversion improved|classic] [--json]\n"
            "\n"
            "Prints the epsilon that T steps of DP-SGD (Poisson sampling at rate Q, Gaussian noise\n"
            "with multiplier S) spend at the given delta, and for RDP the order that attains it.\n"
            "With --ledger, the same for the privacy ledger a run saved, with either accountant.\n"
            "\n"
            "options:\n"
            "  --noise-multiplier S   noise standard deviation / clipping norm (>= 0; 0 = no\n"
            "                         privacy, epsilon = inf)\n"
            "  --ledger FILE          account the privacy events FILE records instead of a\n"
            "                         schedule: a model.h5 (/ledger), a checkpoint.h5\n"
            "                         (/state/ledger) or a *.json ledger; --delta defaults to the\n"
            "                         delta of the config stored in a model or checkpoint (a JSON\n"
            "                         ledger needs --delta). Not with --noise-multiplier, the\n"
            "                         schedule options or --extra-gaussian\n");
    privacy_args_help(out);
    fprintf(out,
            "\n"
            "With --json: {\"epsilon\": E, \"delta\": D, \"order\": A, \"order_at_edge\": B,\n"
            "\"accountant\": \"rdp\", ...} (order is null for the PLD accountant or an infinite\n"
            "epsilon, epsilon null when infinite; order_at_edge is true when the best RDP order is\n"
            "the smallest or largest tried, 1.1 or 1024, where the bound may be loose). With\n"
            "--ledger, instead of the schedule: \"ledger\", \"source\" (model, checkpoint or json),\n"
            "\"delta_from\" (config or option), \"private\" (false: the run trained without privacy,\n"
            "epsilon inf), \"recorded_epsilon\" (what the run reported, at its own delta and\n"
            "accountant; null when the file has none), \"events\" (as in the file) and \"tuning\"\n"
            "(a JSON ledger's record of hyperparameter tuning: its epsilon is the best of K runs'\n"
            "with K ~ truncated negative binomial, RDP only; docs/maths.md 2.11; else null).\n"
            "With --accountant pld, \"epsilon_interval\": [LOWER, UPPER], the optimistic and\n"
            "pessimistic estimates (the true epsilon lies between; epsilon is UPPER), also printed\n"
            "as a second line; null with RDP.\n"
            "Noise so small that its square underflows (< 1.5e-154) gives epsilon = inf.\n"
            "\n"
            "examples (Tramer & Boneh, ScatterNet+linear on CIFAR-10; a trained model under PLD):\n"
            "  dpkit epsilon --batch-size 8192 --dataset-size 50000 --epochs 60 \\\n"
            "      --noise-multiplier 5.67 --delta 1e-5 --extra-gaussian 8:2 --conversion classic\n"
            "  dpkit epsilon --ledger runs/mnist-scatter-linear/model.h5 --accountant pld\n");
}

static void print_json_number(double value)
{
    if (isfinite(value))
        printf("%.17g", value);
    else
        printf("null");
}

/* The bound might fall further past the smallest or largest order tried (1.1, 1024). */
static int order_at_edge(double epsilon, double order)
{
    return isfinite(order) && epsilon > 0.0 && isfinite(epsilon) &&
           accountant_rdp_order_at_edge(order);
}

/* "epsilon = E at delta = D (RDP order A)" and a newline: the first line of both forms. */
static void print_epsilon_line(double epsilon, double delta, double order)
{
    /* Huge values (tiny noise) in %g rather than a 300-digit %f. */
    printf(epsilon < 1e9 ? "epsilon = %.6f at delta = %g" : "epsilon = %.6g at delta = %g",
           epsilon, delta);
    if (isfinite(order))
        printf(" (RDP order %g)", order);
    printf("\n");
}

static void print_edge_note(double epsilon, double order)
{
    if (order_at_edge(epsilon, order))
        printf("note: the best RDP order, %g, is the %s order tried: epsilon is a valid bound "
               "but may be loose (--accountant pld is tighter)\n",
               order, order >= ACCOUNTANT_RDP_MAX_ORDER ? "largest" : "smallest");
}

/* The PLD's [optimistic, pessimistic] epsilon (NaN, NaN for RDP or a run without privacy). */
static int epsilon_interval(const accountant_event *events, size_t count, double delta,
                            const privacy_args *args, int private_mode, double interval[2],
                            dpkit_error *err)
{
    interval[0] = interval[1] = NAN;
    if (args->options.kind != ACCOUNTANT_PLD || !private_mode)
        return 0;
    return accountant_epsilon_interval(events, count, delta, &args->options, &interval[0],
                                       &interval[1], err);
}

static void print_interval_line(const double interval[2])
{
    if (!isnan(interval[0]))
        printf("PLD interval: [%.6f, %.6f] (optimistic, pessimistic; epsilon is the pessimistic "
               "end)\n", interval[0], interval[1]);
}

static void json_interval(json_writer *w, const double interval[2])
{
    json_key(w, "epsilon_interval");
    if (isnan(interval[0])) {
        json_null(w);
        return;
    }
    json_begin_array(w);
    json_double(w, interval[0]);
    json_double(w, interval[1]);
    json_end_array(w);
}

static const char *conversion_name(const privacy_args *args)
{
    return args->options.conversion == ACCOUNTANT_CONVERSION_CLASSIC ? "classic" : "improved";
}

enum { LEDGER_EVENTS_SHOWN = 8 };

static void print_ledger_json(const privacy_args *args, const run_ledger *rl, double epsilon,
                              double delta, double order, const double interval[2])
{
    json_writer w;
    json_writer_init_file(&w, stdout, 0);
    json_begin_object(&w);
    json_field_double(&w, "epsilon", epsilon);
    json_field_double(&w, "delta", delta);
    json_field_double(&w, "order", order);
    json_field_bool(&w, "order_at_edge", order_at_edge(epsilon, order));
    json_interval(&w, interval);
    json_key(&w, "tuning");
    if (rl->ledger.tuning.enabled) {
        json_begin_object(&w);
        json_field_string(&w, "distribution", "truncated-negative-binomial");
        json_field_double(&w, "eta", rl->ledger.tuning.eta);
        json_field_double(&w, "gamma", rl->ledger.tuning.gamma);
        json_field_double(&w, "expected_runs", accountant_tuning_expected_runs(
                                                   rl->ledger.tuning.eta, rl->ledger.tuning.gamma));
        json_end_object(&w);
    } else
        json_null(&w);
    json_field_string(&w, "accountant", args->options.kind == ACCOUNTANT_PLD ? "pld" : "rdp");
    json_field_string(&w, "conversion", conversion_name(args));
    json_field_string(&w, "ledger", args->ledger);
    json_field_string(&w, "source", rl->source);
    json_field_string(&w, "delta_from", args->have_delta ? "option" : "config");
    json_field_bool(&w, "private", rl->private_mode);
    json_field_double(&w, "recorded_epsilon", rl->recorded_epsilon);
    json_key(&w, "events");
    json_begin_array(&w);
    for (size_t i = 0; i < rl->ledger.count; i++) {
        const accountant_event *e = &rl->ledger.events[i];
        json_begin_object(&w);
        json_field_double(&w, "sampling_rate", e->sampling_rate);
        json_field_double(&w, "noise_multiplier", e->noise_multiplier);
        json_field_int(&w, "count", e->count);
        json_field_string(&w, "label", e->label);
        json_field_string(&w, "sampler", accountant_sampler_name(e->sampler));
        json_end_object(&w);
    }
    json_end_array(&w);
    json_end_object(&w);
    dpkit_error ignored; /* stdout: nothing to report a write error to */
    json_writer_finish(&w, &ignored);
}

static void print_ledger_text(const privacy_args *args, const run_ledger *rl, double epsilon,
                              double delta, double order, const double interval[2])
{
    print_epsilon_line(epsilon, delta, order);
    print_interval_line(interval);
    printf("%s; the ledger of %s (%s):", privacy_args_describe(args), args->ledger, rl->source);
    for (size_t i = 0; i < rl->ledger.count && i < LEDGER_EVENTS_SHOWN; i++) {
        const accountant_event *e = &rl->ledger.events[i];
        printf("%s %lld x %s (q = %.6g, noise multiplier %g%s)", i ? "," : "", e->count,
               e->label[0] ? e->label : "unlabelled", e->sampling_rate, e->noise_multiplier,
               e->sampler == ACCOUNTANT_SAMPLER_POISSON ? "" : ", random allocation");
    }
    if (rl->ledger.count > LEDGER_EVENTS_SHOWN)
        printf(", ... (%zu events in all)", rl->ledger.count);
    if (rl->ledger.count == 0)
        printf(" no events");
    printf("%s\n", args->have_delta ? "" : "; delta from its config");
    if (rl->ledger.tuning.enabled)
        printf("tuning: the best of K runs like these, K truncated negative binomial (eta = %g, "
               "gamma = %g, E[K] = %.4g); epsilon is the tuned result's\n",
               rl->ledger.tuning.eta, rl->ledger.tuning.gamma,
               accountant_tuning_expected_runs(rl->ledger.tuning.eta, rl->ledger.tuning.gamma));
    if (!rl->private_mode)
        printf("the run trained without privacy (privacy.enabled: false)\n");
    else if (!isnan(rl->recorded_epsilon))
        printf("the run reported epsilon = %.6f at delta = %g (%s accountant)\n",
               rl->recorded_epsilon, rl->delta, rl->accountant[0] ? rl->accountant : "?");
    print_edge_note(epsilon, order);
}

/* --ledger: the events of a saved run, at --delta or the delta of the run's config. */
static int ledger_epsilon(const char *command, const privacy_args *args)
{
    run_ledger rl;
    dpkit_error err;
    if (run_ledger_load(args->ledger, &rl, &err))
        return cli_fail(command, &err);
    double delta = args->have_delta ? args->delta : rl.delta;
    if (!args->have_delta && isnan(rl.delta)) {
        run_ledger_free(&rl);
        return cli_usage_error(command, "missing --delta: %s records no config to take it from "
                                        "(only a model.h5 or checkpoint.h5 does)", args->ledger);
    }
    double epsilon, order, interval[2];
    int status = run_ledger_epsilon(&rl, delta, &args->options, &epsilon, &order, &err);
    if (status == 0)
        status = epsilon_interval(rl.ledger.events, rl.ledger.count, delta, args,
                                  rl.private_mode, interval, &err);
    if (status == 0 && args->json)
        print_ledger_json(args, &rl, epsilon, delta, order, interval);
    else if (status == 0)
        print_ledger_text(args, &rl, epsilon, delta, order, interval);
    run_ledger_free(&rl);
    return status ? cli_fail(command, &err) : 0;
}

int cli_epsilon(int argc, char **argv)
{
    const char *command = "epsilon";
    privacy_args args;
    double sigma = 0.0;
    int status = privacy_args_parse(command, argc, argv, "--noise-multiplier", &sigma, 1, &args,
                                    print_help);
    if (status >= 0)
        return status;
    if (args.ledger)
        return ledger_epsilon(command, &args);
    if (sigma < 0.0)
        return cli_usage_error(command, "--noise-multiplier must be >= 0, got %g", sigma);

    accountant_event events[PRIVACY_ARGS_MAX_EXTRA + 1];
    size_t count = 0;
    for (size_t i = 0; i < args.extra_count; i++)
        events[count++] = args.extra[i];
    events[count++] = (accountant_event){args.sampling_rate, sigma, args.steps, "dp-sgd",
                                         args.options.sampler};
    double epsilon, order, interval[2];
    dpkit_error err;
    if (accountant_epsilon(events, count, args.delta, &args.options, &epsilon, &order, &err) != 0 ||
        epsilon_interval(events, count, args.delta, &args, 1, interval, &err) != 0)
        return cli_fail(command, &err);
    const char *kind = args.options.kind == ACCOUNTANT_PLD ? "pld" : "rdp";
    int at_edge = order_at_edge(epsilon, order);
    if (args.json) {
        printf("{\"epsilon\": ");
        print_json_number(epsilon);
        printf(", \"delta\": %.17g, \"order\": ", args.delta);
        print_json_number(order);
        printf(", \"order_at_edge\": %s", at_edge ? "true" : "false");
        printf(", \"epsilon_interval\": ");
        if (isnan(interval[0]))
            printf("null");
        else {
            printf("[");
            print_json_number(interval[0]);
            printf(", ");
            print_json_number(interval[1]);
            printf("]");
        }
        printf(", \"accountant\": \"%s\", \"conversion\": \"%s\", \"sampling_rate\": %.17g, "
               "\"noise_multiplier\": %.17g, \"steps\": %lld, \"sampler\": \"%s\"}\n",
               kind, conversion_name(&args), args.sampling_rate, sigma, args.steps,
               accountant_sampler_name(args.options.sampler));
        return 0;
    }
    print_epsilon_line(epsilon, args.delta, order);
    print_interval_line(interval);
    printf("%s; q = %.6g, noise multiplier %g, %lld steps", privacy_args_describe(&args),
           args.sampling_rate, sigma, args.steps);
    privacy_args_print_extra(&args);
    print_edge_note(epsilon, order);
    return 0;
}
