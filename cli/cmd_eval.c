/* dpkit eval: accuracy of a trained model (model.h5) on a dataset split, through the same
 * features and normalisation it was trained with. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "common/log.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND "eval"

static void print_help(void)
{
    printf("usage: dpkit eval MODEL.h5 [--data NAME] [--split test|train]\n"
           "\n"
           "Prints the accuracy and mean cross-entropy of a model written by 'dpkit train' on a\n"
           "split of its dataset (or of another dataset with the same image shape and classes),\n"
           "with the features (from the cache) and the normalisation stored in the model file.\n"
           "Evaluating on data the model was not trained with costs no privacy; this is a\n"
           "non-private measurement of the model.\n"
           "\n"
           "options:\n"
           "  --data NAME     mnist | fashion-mnist | cifar10 | hdf5:PATH (default: the model's)\n"
           "  --split S       test (default) or train\n"
           "  -q, --quiet     only errors\n"
           "  -v, --verbose   more detail\n"
           "  -h, --help      show this help\n"
           "\n"
           "example:\n"
           "  dpkit eval runs/mnist-scatter-linear/model.h5\n");
}

typedef struct eval_state {
    run_config rc;
    dataset data;
    features_set features;
    features_normalizer normalizer;
    dp_model model;
    dp_workspace ws;
} eval_state;

static int evaluate(eval_state *s, const char *model_path, const char *data_name,
                    const char *split, dpkit_error *err)
{
    h5io_file *f;
    char *config_text = NULL, *noise_key = NULL;
    if (h5io_open_read(model_path, &f, err))
        return -1;
    int status = h5io_read_attr_string(f, "/", "config", &config_text, err) ||
                 run_config_from_text(config_text, model_path, &s->rc, err) ||
                 dp_model_load_h5(&s->model, f, "/model", err) ||
                 features_normalizer_load_h5(&s->normalizer, f, "/normalizer", err) ||
                 (h5io_has_attr(f, "/", "noise_key") &&
                  h5io_read_attr_string(f, "/", "noise_key", &noise_key, err));
    if (!status)
        printf("noise key: %s\n", noise_key ? noise_key : "not recorded (an older model file)");
    free(noise_key);
    free(config_text);
    h5io_close(f);
    if (status)
        return -1;
    const char *name = data_name ? data_name : s->rc.dataset;
    features_cache_info info;
    if (dataset_load(name, &s->data, err) ||
        features_cached(&s->rc.extractor, &s->data, split, 0, &s->features, &info, err))
        return -1;
    features_set *x = &s->features;
    size_t spatial = x->height * x->width;
    if (x->channels != s->model.input.channels || x->height != s->model.input.height ||
        x->width != s->model.input.width)
        return error_set(err, "%s: features are %zux%zux%zu, the model expects %zux%zux%zu", name,
                         x->channels, x->height, x->width, s->model.input.channels,
                         s->model.input.height, s->model.input.width);
    for (size_t i = 0; i < x->count; i++)
        if (x->labels[i] < 0 || (size_t)x->labels[i] >= s->model.class_count)
            return error_set(err, "%s: label %d outside the model's %zu classes", name,
                             (int)x->labels[i], s->model.class_count);
    double accuracy, loss;
    if (features_normalizer_apply(&s->normalizer, x->values, x->count, x->channels, spatial, err) ||
        dp_workspace_create(&s->model, 1024, &s->ws, err) ||
        dp_model_evaluate(&s->model, &s->ws, x->values, x->labels, x->count, &accuracy, &loss, err))
        return -1;
    printf("%s %s: accuracy %.4f, loss %.4f, %zu examples\n", name, split, accuracy, loss, x->count);
    return 0;
}

int cli_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'}, {"split", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},    {NULL, 0, NULL, 0}};
    const char *data = NULL, *split = "test";
    int c;
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
        else
            return cli_usage_error(COMMAND, "unknown option");
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one MODEL.h5 file");
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0)
        return cli_usage_error(COMMAND, "--split must be test or train, got '%s'", split);
    eval_state s;
    memset(&s, 0, sizeof s);
    dpkit_error err;
    int status = evaluate(&s, argv[optind], data, split, &err);
    dp_workspace_free(&s.ws);
    dp_model_free(&s.model);
    features_normalizer_free(&s.normalizer);
    features_set_free(&s.features);
    dataset_free(&s.data);
    run_config_free(&s.rc);
    return status ? cli_fail(COMMAND, &err) : 0;
}
