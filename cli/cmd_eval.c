/* dpkit eval: accuracy of a trained model (model.h5) on a dataset split, through the same
 * features and normalisation it was trained with (dp/run_eval.c); as text or one JSON object,
 * and optionally every example's outputs in an HDF5 file. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "common/json.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "eval"

static void print_help(void)
{
    printf("usage: dpkit eval MODEL.h5 [--data NAME] [--split test|train] [--json]\n"
           "                  [--per-example FILE.h5] [--mirror-average]\n"
           "\n"
           "Prints the accuracy and mean cross-entropy of a model written by 'dpkit train' on a\n"
           "split of its dataset (or of another dataset with the same image shape and classes),\n"
           "with the features (from the cache) and the normalisation stored in the model file.\n"
           "Evaluating on data the model was not trained with costs no privacy; this is a\n"
           "non-private measurement of the model.\n"
           "\n"
           "options:\n"
           "  --data NAME          mnist | fashion-mnist | cifar10 | hdf5:PATH (default: the\n"
           "                       model's)\n"
           "  --split S            test (default) or train\n"
           "  --json               print one JSON object instead of text: model, dataset, split,\n"
           "                       examples, accuracy, mean_loss, mirror_average,\n"
           "                       reproducible_noise, noise_key, per_example, dpkit_version\n"
           "  --per-example FILE   also write every example's index, label, prediction, loss and\n"
           "                       logits to FILE (HDF5, docs/formats.md); never the model file\n"
           "  --mirror-average     the logits are the mean of the model's at each image and at\n"
           "                       its left-right mirror, as model.mirror_average makes them\n"
           "                       (post-processing: no privacy cost)\n"
           "  -q, --quiet          only errors\n"
           "  -v, --verbose        more detail\n"
           "  -h, --help           show this help\n"
           "\n"
           "examples:\n"
           "  dpkit eval runs/mnist-scatter-linear/model.h5\n"
           "  dpkit eval runs/mnist-scatter-linear/model.h5 --json --per-example test.h5\n"
           "  dpkit eval runs/cifar10-scatter-linear/model.h5 --mirror-average\n");
}

static const char *noise_key_text(const run_eval_result *r)
{
    return r->noise_key ? r->noise_key : "not recorded (an older model file)";
}

static int print_json(const run_eval_result *r, const char *model_path, const char *per_example,
                      dpkit_error *err)
{
    json_writer w;
    json_writer_init_file(&w, stdout, 0);
    json_begin_object(&w);
    json_field_string(&w, "model", model_path);
    json_field_string(&w, "dataset", r->dataset);
    json_field_string(&w, "split", r->split);
    json_field_int(&w, "examples", (long long)r->count);
    json_field_double(&w, "accuracy", r->accuracy);
    json_field_double(&w, "mean_loss", r->mean_loss);
    json_field_bool(&w, "mirror_average", r->mirror_average);
    json_field_bool(&w, "reproducible_noise", r->reproducible_noise);
    json_field_string(&w, "noise_key", r->noise_key); /* null in older files */
    json_field_string(&w, "per_example", per_example);
    json_field_string(&w, "dpkit_version", DPKIT_VERSION);
    json_end_object(&w);
    return json_writer_finish(&w, err);
}

int cli_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'}, {"split", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},       {"per-example", required_argument, NULL, 'p'},
        {"mirror-average", no_argument, NULL, 'm'},
        CLI_COMMON_OPTIONS,                     {NULL, 0, NULL, 0}};
    const char *data = NULL, *split = "test", *per_example = NULL;
    int json = 0, mirror = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        if (c == 'h') {
            print_help();
            return 0;
        }
        if (c == 'd')
            data = optarg;
        else if (c == 's')
            split = optarg;
        else if (c == 'j')
            json = 1;
        else if (c == 'p')
            per_example = optarg;
        else if (c == 'm')
            mirror = 1;
        else
            return cli_usage_error(COMMAND, "unknown option");
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one MODEL.h5 file");
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0)
        return cli_usage_error(COMMAND, "--split must be test or train, got '%s'", split);
    const char *model_path = argv[optind];
    dpkit_error err;
    /* Refused before the evaluation's work; run_eval_write checks again with the dataset the
     * model names. */
    if (per_example && run_eval_check_output(per_example, model_path, data, &err))
        return cli_fail(COMMAND, &err);
    run_eval_result r;
    if (run_eval_file(model_path, data, split, per_example != NULL, mirror, &r, &err))
        return cli_fail(COMMAND, &err);
    int status = per_example ? run_eval_write(&r, model_path, per_example, &err) : 0;
    if (!status && json) {
        status = print_json(&r, model_path, per_example, &err);
    } else if (!status) {
        printf("noise key: %s\n", noise_key_text(&r));
        printf("%s %s: accuracy %.4f, loss %.4f, %zu examples%s\n", r.dataset, r.split,
               r.accuracy, r.mean_loss, r.count,
               r.mirror_average ? " (logits averaged with the mirror images')" : "");
        if (per_example)
            printf("per-example outputs: %s\n", per_example);
    }
    run_eval_free(&r);
    return status ? cli_fail(COMMAND, &err) : 0;
}
