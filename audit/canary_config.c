/* The Secret Sharer experiment's config: its schema (bounds included, the privacy, training and
 * output keys from the shared fragments of dp/run_config.c) and the settings read from a
 * validated config (docs/audit.md). */
#include "audit/audit.h"
#include "common/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CANARIES AUDIT_CANARY_EXPERIMENT_MAX_CANARIES
#define MAX_RUNS AUDIT_CANARY_EXPERIMENT_MAX_RUNS

static const config_field run_item_schema[] = {
    {"label", CONFIG_STRING, NULL, "name of the model in the report (e.g. no-dp, eps8)", NULL, NULL},
    {"private", CONFIG_BOOL, "true", "false: plain SGD (no clipping, no noise)", NULL, NULL},
    {"epsilon", CONFIG_DOUBLE, "0", "target epsilon (calibrates the noise); 0: use noise_multiplier", "0..1e6", NULL},
    {"noise_multiplier", CONFIG_DOUBLE, "0", "sigma when epsilon is 0", "0..1e6", NULL},
    {"epochs", CONFIG_INT, "0", "epochs of this model; 0: training.epochs", "0..10000", NULL},
    {"lr", CONFIG_DOUBLE, "0", "learning rate of this model; 0: training.optimizer.lr", "0..1e6", NULL},
    {0}};

const config_field audit_canary_experiment_schema[] = {
    {"kind", CONFIG_ENUM, NULL, "audit kind", "canaries", NULL},
    {"name", CONFIG_STRING, "audit-canaries", "name of the experiment", NULL, NULL},
    {"seed", CONFIG_INT, "0", "seed of the public randomness: canaries, initialisation, references, prompts, sampling of text", "0..9223372036854775807", NULL},
    {"privacy.reproducible_noise|privacy.delta|privacy.max_grad_norm|privacy.accountant", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_privacy},
    {"privacy.reproducible_noise", CONFIG_DEFAULT, "false", "true: the batches and the DP noise are keyed from the seed too (the experiment repeats exactly); false: a secret key from the OS", NULL, NULL},
    {"privacy.delta", CONFIG_DEFAULT, "1e-7", "delta of the private models (below 1 / windows)", NULL, NULL},
    {"privacy.max_grad_norm", CONFIG_DEFAULT, "1", "clip norm C of each window's gradient", NULL, NULL},
    {"data.corpus", CONFIG_STRING, "sotu", "sotu, a directory of *.txt files or a text file", NULL, NULL},
    {"data.offset", CONFIG_INT, "0", "first byte of the training slice in the concatenated corpus", "0..1099511627776", NULL},
    {"data.bytes", CONFIG_INT, "1048576", "bytes of training text (before the canaries)", "64..4294967296", NULL},
    {"data.holdout_bytes", CONFIG_INT, "65536", "bytes after the slice: held-out loss and sampling prompts", "64..4294967296", NULL},
    {"model.context", CONFIG_INT, "10", "k: characters of context of each window", "1..256", NULL},
    {"model.hidden", CONFIG_INT, "128", "tanh units between the one-hot input and the output", "1..65536", NULL},
    {"canaries.template", CONFIG_STRING, "the pin of {id} is ", "text before the secret; {id}: a letter per canary", NULL, NULL},
    {"canaries.alphabet", CONFIG_STRING, "0123456789", "characters of the secret", NULL, NULL},
    {"canaries.length", CONFIG_INT, "6", "characters of the secret", "1..32", NULL},
    {"canaries.insertions", CONFIG_STRING, "0 1 2 4 8 16 32", "insertion counts (0: a control canary, never inserted)", NULL, NULL},
    {"canaries.repeats", CONFIG_INT, "1", "canaries per insertion count", "1..26", NULL},
    {"training.epochs|training.batch_size|training.physical_batch|training.optimizer.kind|training.optimizer.lr|training.optimizer.momentum", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_training},
    {"training.epochs", CONFIG_DEFAULT, "2", NULL, NULL, NULL},
    {"training.batch_size", CONFIG_DEFAULT, "1024", NULL, NULL, NULL},
    {"training.physical_batch", CONFIG_DEFAULT, "512", "windows per forward/backward pass", NULL, NULL},
    {"training.optimizer.kind", CONFIG_DEFAULT, "adam", NULL, NULL, NULL},
    {"training.optimizer.lr", CONFIG_DEFAULT, "0.002", NULL, NULL, NULL},
    {"runs", CONFIG_LIST, "[{label: no-dp, private: false}, {label: eps8, private: true, epsilon: 8}]", "models to train and audit", NULL, run_item_schema},
    {"audit.references", CONFIG_INT, "10000", "random secrets scored for interpolation and extrapolation", "3..100000000", NULL},
    {"audit.enumerate_max", CONFIG_INT, "10000000", "exact rank by enumeration when |R| is at most this", "0..10000000", NULL},
    {"audit.extraction_k", CONFIG_INT, "10", "candidates of the extraction search", "1..100000", NULL},
    {"audit.extraction_batch", CONFIG_INT, "64", "prefixes per model call in the search", "1..65536", NULL},
    {"audit.max_nodes", CONFIG_INT, "4194304", "tree nodes the search may store", "1024..2147483648", NULL},
    {"extraction.samples", CONFIG_INT, "1000", "continuations sampled per model", "1..10000000", NULL},
    {"extraction.length", CONFIG_INT, "64", "characters per continuation", "1..100000", NULL},
    {"extraction.temperature", CONFIG_DOUBLE, "1", "sampling temperature (> 0)", "0..1e6", NULL},
    {"extraction.top_k", CONFIG_INT, "40", "sample among the k most likely characters; 0: all", "0..1048576", NULL},
    {"extraction.min_match", CONFIG_INT, "32", "L: a sample is memorised if it holds >= L verbatim training characters", "1..100000", NULL},
    {"extraction.max_occurrences", CONFIG_INT, "1", "a memorised sample is rare when a verbatim L-gram occurs at most this often in training", "1..1073741824", NULL},
    {"extraction.top", CONFIG_INT, "100", "k of precision at k", "1..10000000", NULL},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_output},
    {0}};

/* Insertion counts: integers 0..1000000 separated by spaces or commas, each repeated `repeats`
 * times (consecutive canaries). */
static int read_insertions(const char *text, audit_canary_experiment_settings *s,
                           dpkit_error *err)
{
    size_t kinds = 0, values[MAX_CANARIES];
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > 1000000 || (*end && *end != ' ' && *end != ','))
            return error_set(err, "canaries.insertions: \"%s\", expected counts 0..1000000 "
                                  "separated by spaces or commas", text);
        if (kinds == MAX_CANARIES)
            return error_set(err, "canaries.insertions: more than %d counts", MAX_CANARIES);
        values[kinds++] = (size_t)v;
        p = end;
    }
    if (kinds == 0)
        return error_set(err, "canaries.insertions: empty, expected at least one count");
    if (kinds * s->repeats > MAX_CANARIES)
        return error_set(err, "canaries: %zu counts x %zu repeats, expected at most %d canaries",
                         kinds, s->repeats, MAX_CANARIES);
    s->canary_count = 0;
    for (size_t i = 0; i < kinds; i++)
        for (size_t r = 0; r < s->repeats; r++)
            s->insertions[s->canary_count++] = values[i];
    return 0;
}

static int read_runs(const config *c, size_t epochs, audit_canary_experiment_settings *s,
                     dpkit_error *err)
{
    s->run_count = config_list_length(c, "runs");
    if (s->run_count < 1 || s->run_count > MAX_RUNS)
        return error_set(err, "runs: %zu models, expected 1..%d", s->run_count, MAX_RUNS);
    for (size_t i = 0; i < s->run_count; i++) {
        const config *item = config_list_item(c, "runs", i);
        audit_canary_experiment_run *run = &s->runs[i];
        run->label = config_get_string(item, "label");
        run->private_mode = config_get_bool(item, "private");
        run->epsilon = config_get_double(item, "epsilon");
        run->sigma = config_get_double(item, "noise_multiplier");
        long e = config_get_int(item, "epochs");
        double lr = config_get_double(item, "lr");
        run->epochs = e ? (size_t)e : epochs;
        run->lr = lr > 0 ? lr : s->optimizer.lr;
        if (run->private_mode && !(run->epsilon > 0) && !(run->sigma > 0))
            return error_set(err, "runs[%zu] (%s): private, expected epsilon > 0 or "
                                  "noise_multiplier > 0", i, run->label);
        if (!run->label[0])
            return error_set(err, "runs[%zu].label: empty", i);
    }
    return 0;
}

int audit_canary_experiment_settings_read(const config *c, audit_canary_experiment_settings *s,
                                          char *output_dir, size_t output_size,
                                          dpkit_error *err)
{
    memset(s, 0, sizeof *s);
    s->name = config_get_string(c, "name");
    s->corpus = config_get_string(c, "data.corpus");
    s->seed = config_get_int(c, "seed");
    s->reproducible_noise = config_get_bool(c, "privacy.reproducible_noise");
    /* the schema bounds every count below */
    s->offset = (size_t)config_get_int(c, "data.offset");
    s->bytes = (size_t)config_get_int(c, "data.bytes");
    s->holdout_bytes = (size_t)config_get_int(c, "data.holdout_bytes");
    s->context = (size_t)config_get_int(c, "model.context");
    s->hidden = (size_t)config_get_int(c, "model.hidden");
    s->length = (size_t)config_get_int(c, "canaries.length");
    s->repeats = (size_t)config_get_int(c, "canaries.repeats");
    s->batch_size = (size_t)config_get_int(c, "training.batch_size");
    s->physical_batch = (size_t)config_get_int(c, "training.physical_batch");
    s->references = (size_t)config_get_int(c, "audit.references");
    s->enumerate_max = (size_t)config_get_int(c, "audit.enumerate_max");
    s->extraction_k = (size_t)config_get_int(c, "audit.extraction_k");
    s->extraction_batch = (size_t)config_get_int(c, "audit.extraction_batch");
    s->max_nodes = (size_t)config_get_int(c, "audit.max_nodes");
    s->samples = (size_t)config_get_int(c, "extraction.samples");
    s->sample_length = (size_t)config_get_int(c, "extraction.length");
    s->top_k = (size_t)config_get_int(c, "extraction.top_k");
    s->min_match = (size_t)config_get_int(c, "extraction.min_match");
    s->max_occurrences = (size_t)config_get_int(c, "extraction.max_occurrences");
    s->top = (size_t)config_get_int(c, "extraction.top");
    s->template_text = config_get_string(c, "canaries.template");
    s->alphabet = config_get_string(c, "canaries.alphabet");
    s->delta = config_get_double(c, "privacy.delta");
    s->clip = config_get_double(c, "privacy.max_grad_norm");
    s->temperature = config_get_double(c, "extraction.temperature");
    /* The experiment's own limits inside the shared fragments' wider ranges. */
    if (s->batch_size > (size_t)1 << 30 || s->physical_batch > (size_t)1 << 16)
        return error_set(err, "training: batch_size %zu and physical_batch %zu, expected at "
                              "most 1073741824 and 65536 windows", s->batch_size,
                         s->physical_batch);
    if (!(s->delta > 0 && s->delta < 1))
        return error_set(err, "privacy.delta: %g, expected 0 < delta < 1", s->delta);
    if (!(s->clip > 0))
        return error_set(err, "privacy.max_grad_norm: %g, expected > 0", s->clip);
    if (!(s->temperature > 0))
        return error_set(err, "extraction.temperature: %g, expected > 0", s->temperature);
    accountant_options_default(&s->accountant);
    dp_optimizer_config_default(&s->optimizer);
    if (read_insertions(config_get_string(c, "canaries.insertions"), s, err) ||
        accountant_kind_parse(config_get_string(c, "privacy.accountant"), &s->accountant.kind,
                              err) ||
        dp_optimizer_kind_parse(config_get_string(c, "training.optimizer.kind"),
                                &s->optimizer.kind, err))
        return -1;
    s->optimizer.lr = config_get_double(c, "training.optimizer.lr");
    s->optimizer.momentum = config_get_double(c, "training.optimizer.momentum");
    if (!(s->optimizer.lr > 0) || !(s->optimizer.momentum < 1))
        return error_set(err, "training.optimizer: lr %g and momentum %g, expected lr > 0 and "
                              "momentum in [0, 1)", s->optimizer.lr, s->optimizer.momentum);
    if (read_runs(c, (size_t)config_get_int(c, "training.epochs"), s, err))
        return -1;
    const char *dir = config_get_string(c, "output.dir");
    int n = dir[0] ? snprintf(output_dir, output_size, "%s", dir)
                   : snprintf(output_dir, output_size, "runs/%s", s->name);
    if (n < 0 || (size_t)n >= output_size)
        return error_set(err, "output.dir: longer than %zu characters", output_size - 1);
    s->output_dir = output_dir;
    return 0;
}
