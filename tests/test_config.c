/* Config module: YAML/JSON tree, schema validation with line numbers, defaults, overrides,
 * lists of maps, malformed input, and the YAML write/read round trip. */
#include "common/config.h"
#include "common/spelling.h"
#include "dp/run_config.h"
#include "dp/run_curve.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const config_field layer_schema[] = {
    {"kind", CONFIG_ENUM, NULL, "layer type", "conv2d|dense|relu", NULL},
    {"out", CONFIG_INT, "0", "output channels or units", NULL, NULL},
    {"kernel", CONFIG_INT, "3", "kernel size", NULL, NULL},
    {"padding.same", CONFIG_BOOL, "false", "pad to keep the size", NULL, NULL},
    {0}};

/* training.* is interleaved with privacy.* on purpose: the writer must still group them. */
static const config_field schema[] = {
    {"name", CONFIG_STRING, "run", "name of the run", NULL, NULL},
    {"seed", CONFIG_INT, "0", "random seed", NULL, NULL},
    {"training.epochs", CONFIG_INT, "60", "passes over the data", NULL, NULL},
    {"privacy.epsilon", CONFIG_DOUBLE, NULL, "target epsilon", NULL, NULL},
    {"training.batch_size", CONFIG_INT, "256", "expected batch size", NULL, NULL},
    {"privacy.delta", CONFIG_DOUBLE, "1e-5", "target delta", NULL, NULL},
    {"training.optimizer.kind", CONFIG_ENUM, "sgd", "optimizer", "sgd|adam", NULL},
    {"training.optimizer.lr", CONFIG_DOUBLE, "0.1", "learning rate", NULL, NULL},
    {"training.shuffle", CONFIG_BOOL, "true", "shuffle each epoch", NULL, NULL},
    {"model.layers", CONFIG_LIST, "[]", "layers of a cnn", NULL, layer_schema},
    {"output.dir", CONFIG_STRING, "", "run directory", NULL, NULL},
    {0}};

static char file_path[512];

static const char *write_yaml(const char *text)
{
    snprintf(file_path, sizeof file_path, "%s/x.yaml", test_temp_dir());
    cr_assert_eq(test_write_file(file_path, text, strlen(text)), 0);
    return file_path;
}

/* Loads text as a config file; returns the status, the message in err. */
static int load(const char *text, config **cfg, dpkit_error *err)
{
    error_clear(err);
    return config_load(write_yaml(text), schema, cfg, err);
}

/* Expects loading to fail with a message containing "<file><where>" and `what`. */
static void expect_error(const char *text, const char *where, const char *what)
{
    config *cfg = NULL;
    dpkit_error err;
    cr_assert_neq(load(text, &cfg, &err), 0, "expected an error for:\n%s", text);
    cr_assert_null(cfg);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s%s", file_path, where);
    cr_assert(strstr(err.message, expected), "message '%s' lacks '%s'", err.message, expected);
    cr_assert(strstr(err.message, what), "message '%s' lacks '%s'", err.message, what);
}

Test(config, values_defaults_and_explicit_flags)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("name: cifar10 # comment\n"
                      "privacy: {epsilon: 3}\n"
                      "training:\n"
                      "  epochs: 20\n"
                      "  optimizer:\n"
                      "    lr: 4\n"
                      "    kind: adam\n"
                      "  shuffle: no\n",
                      &cfg, &err),
                 0, "%s", err.message);
    cr_assert_str_eq(config_get_string(cfg, "name"), "cifar10");
    cr_assert_eq(config_get_int(cfg, "training.epochs"), 20);
    cr_assert_eq(config_get_int(cfg, "training.batch_size"), 256);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 3.0);
    cr_assert_eq(config_get_double(cfg, "privacy.delta"), 1e-5);
    cr_assert_eq(config_get_double(cfg, "training.optimizer.lr"), 4.0);
    cr_assert_str_eq(config_get_string(cfg, "training.optimizer.kind"), "adam");
    cr_assert_eq(config_get_bool(cfg, "training.shuffle"), 0);
    cr_assert_str_eq(config_get_string(cfg, "output.dir"), "");
    cr_assert_eq(config_list_length(cfg, "model.layers"), 0);
    cr_assert_eq(config_is_explicit(cfg, "training.epochs"), 1);
    cr_assert_eq(config_is_explicit(cfg, "training.batch_size"), 0);
    cr_assert_eq(config_is_explicit(cfg, "privacy.epsilon"), 1);
    config_free(cfg);
}

Test(config, dotted_keys_in_the_file)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy.epsilon: 1.5\ntraining.optimizer: {lr: 1e-3}\n", &cfg, &err), 0,
                 "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 1.5);
    cr_assert_eq(config_get_double(cfg, "training.optimizer.lr"), 1e-3);
    config_free(cfg);
    expect_error("privacy.epsilon: 1\nprivacy:\n  epsilon: 2\n", ":3:", "given twice");
}

Test(config, unknown_keys_name_line_and_suggestion)
{
    expect_error("privacy: {epsilon: 1}\n"
                 "training:\n"
                 "  epochs: 3\n"
                 "  epoch: 4\n",
                 ":4: ", "unknown key 'training.epoch' (did you mean 'training.epochs'?)");
    expect_error("privacy: {epsilon: 1}\ntraining:\n  optimiser:\n    lr: 1\n", ":3: ",
                 "unknown key 'training.optimiser' (did you mean 'training.optimizer'?)");
    expect_error("privacy: {epsilon: 1}\nlr: 0.5\n", ":2: ",
                 "unknown key 'lr' (did you mean 'training.optimizer.lr'?)");
    expect_error("privacy: {epsilon: 1}\n\n\nzzzzzz: 1\n", ":4: ", "unknown key 'zzzzzz'");
    /* no suggestion when nothing is close */
    config *cfg;
    dpkit_error err;
    cr_assert_neq(load("privacy: {epsilon: 1}\nqqqqqqqqqq: 1\n", &cfg, &err), 0);
    cr_assert_null(strstr(err.message, "did you mean"), "%s", err.message);
}

/* The did-you-mean helper shared by config keys and command names. */
Test(config, spelling_distance_and_nearest)
{
    cr_assert_eq(spelling_distance("", ""), 0);
    cr_assert_eq(spelling_distance("traim", "train"), 1);
    cr_assert_eq(spelling_distance("epoch", "epochs"), 1);
    cr_assert_eq(spelling_distance("kitten", "sitting"), 3);
    char long_word[300];
    memset(long_word, 'a', sizeof long_word - 1);
    long_word[sizeof long_word - 1] = '\0';
    cr_assert_eq(spelling_distance(long_word, "a"), (size_t)-1);
    const char *const words[] = {"train", "audit", "curve", "eval"};
    cr_assert_eq(spelling_nearest("traim", words, 4), 0);
    cr_assert_eq(spelling_nearest("cruve", words, 4), 2); /* a swap is two edits */
    cr_assert_eq(spelling_nearest("frobnicate", words, 4), -1);
    cr_assert_eq(spelling_tolerance("privacy.eps"), 2);
    cr_assert_eq(spelling_tolerance("privacy.epsilon"), 3);
}

Test(config, wrong_types_name_line_and_key)
{
    expect_error("privacy: {epsilon: 1}\n\n\n\n\ntraining:\n  batch_size: abc\n", ":7: ",
                 "training.batch_size: expected an integer, got 'abc'");
    expect_error("privacy: {epsilon: 1}\nseed: 2.5\n", ":2: ", "seed: expected an integer, got '2.5'");
    expect_error("privacy: {epsilon: 1}\nseed: 99999999999999999999\n", ":2: ",
                 "seed: integer out of range");
    expect_error("privacy: {epsilon: 1}\nseed: 1e30\n", ":2: ", "integer out of range");
    expect_error("privacy: {epsilon: 1}\nseed: 0x10\n", ":2: ", "expected an integer");
    expect_error("privacy: {epsilon: one}\n", ":1: ", "privacy.epsilon: expected a number, got 'one'");
    expect_error("privacy: {epsilon: 1e999}\n", ":1: ", "number out of range");
    expect_error("privacy: {epsilon: .nan}\n", ":1: ", "expected a number");
    expect_error("privacy: {epsilon: inf}\n", ":1: ", "expected a number");
    expect_error("privacy: {epsilon: 1}\ntraining: {shuffle: maybe}\n", ":2: ",
                 "training.shuffle: expected true or false, got 'maybe'");
    expect_error("privacy: {epsilon: 1}\nname: [a, b]\n", ":2: ", "name: expected a string, got a list");
    expect_error("privacy: {epsilon: 1}\nseed: {a: 1}\n", ":2: ", "seed: expected an integer, got a map");
    expect_error("privacy: {epsilon: 1}\nseed:\n", ":2: ", "seed: expected an integer, got null");
    expect_error("privacy: 3\n", ":1: ", "privacy: expected a map of keys (privacy.*), got a single value");
}

Test(config, numbers_parse_exactly)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 4, delta: 1e-5}\nseed: 1e3\ntraining:\n"
                      "  epochs: -7\n  batch_size: 4096.0\n  optimizer: {lr: -.5}\n"
                      "name: 2021\n",
                      &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 4.0);
    cr_assert_eq(config_get_double(cfg, "privacy.delta"), 1e-5);
    cr_assert_eq(config_get_int(cfg, "seed"), 1000);
    cr_assert_eq(config_get_int(cfg, "training.epochs"), -7);
    cr_assert_eq(config_get_int(cfg, "training.batch_size"), 4096);
    cr_assert_eq(config_get_double(cfg, "training.optimizer.lr"), -0.5);
    cr_assert_str_eq(config_get_string(cfg, "name"), "2021");
    config_free(cfg);
    cr_assert_eq(load("privacy: {epsilon: 1}\nseed: 9223372036854775807\n", &cfg, &err), 0);
    cr_assert_eq(config_get_int(cfg, "seed"), 9223372036854775807L);
    config_free(cfg);
}

Test(config, enum_values_outside_the_set)
{
    expect_error("privacy: {epsilon: 1}\ntraining:\n  optimizer:\n    kind: adamw\n", ":4: ",
                 "training.optimizer.kind: expected one of sgd, adam, got 'adamw'");
}

Test(config, missing_required_keys)
{
    expect_error("seed: 1\n", ": ", "missing required key 'privacy.epsilon' (target epsilon)");
    /* an override can supply it */
    const char *sets[] = {"privacy.epsilon=2"};
    config *cfg;
    dpkit_error err;
    cr_assert_eq(config_load_with_overrides(write_yaml("seed: 1\n"), schema, sets, 1, &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 2.0);
    cr_assert_eq(config_is_explicit(cfg, "privacy.epsilon"), 1);
    config_free(cfg);
    /* no file at all */
    cr_assert_eq(config_load_with_overrides(NULL, schema, sets, 1, &cfg, &err), 0, "%s",
                 err.message);
    cr_assert_eq(config_get_int(cfg, "training.epochs"), 60);
    config_free(cfg);
    cr_assert_neq(config_load(NULL, schema, &cfg, &err), 0);
    cr_assert(strstr(err.message, "missing required key 'privacy.epsilon'"), "%s", err.message);
}

Test(config, lists_of_maps)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 1}\n"
                      "model:\n"
                      "  layers:\n"
                      "    - {kind: conv2d, out: 16, kernel: 8}\n"
                      "    - kind: relu\n"
                      "    - kind: dense\n"
                      "      out: 10\n"
                      "      padding: {same: true}\n",
                      &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_list_length(cfg, "model.layers"), 3);
    const config *layer = config_list_item(cfg, "model.layers", 0);
    cr_assert_not_null(layer);
    cr_assert_str_eq(config_get_string(layer, "kind"), "conv2d");
    cr_assert_eq(config_get_int(layer, "out"), 16);
    cr_assert_eq(config_get_int(layer, "kernel"), 8);
    cr_assert_eq(config_is_explicit(layer, "kernel"), 1);
    layer = config_list_item(cfg, "model.layers", 1);
    cr_assert_eq(config_get_int(layer, "kernel"), 3);
    cr_assert_eq(config_is_explicit(layer, "kernel"), 0);
    cr_assert_eq(config_get_int(cfg, "model.layers[2].out"), 10);
    cr_assert_eq(config_get_bool(cfg, "model.layers[2].padding.same"), 1);
    cr_assert_null(config_list_item(cfg, "model.layers", 3));
    config_free(cfg);

    expect_error("privacy: {epsilon: 1}\nmodel:\n  layers:\n    - {kind: relu}\n"
                 "    - {kind: dense, out: ten}\n",
                 ":5: ", "model.layers[1].out: expected an integer, got 'ten'");
    expect_error("privacy: {epsilon: 1}\nmodel:\n  layers:\n    - kind: conv2d\n      kernal: 3\n",
                 ":5: ", "unknown key 'model.layers[0].kernal' (did you mean 'model.layers[0].kernel'?)");
    expect_error("privacy: {epsilon: 1}\nmodel:\n  layers:\n    - {kind: relu}\n    - {out: 3}\n",
                 ":5: ", "model.layers[1]: missing required key 'kind' (layer type)");
    expect_error("privacy: {epsilon: 1}\nmodel:\n  layers:\n    - {kind: pool}\n", ":4: ",
                 "model.layers[0].kind: expected one of conv2d, dense, relu, got 'pool'");
    expect_error("privacy: {epsilon: 1}\nmodel:\n  layers:\n    - relu\n", ":4: ",
                 "model.layers[0]: expected a map (e.g. {kind: ...}), got a single value");
    expect_error("privacy: {epsilon: 1}\nmodel: {layers: 3}\n", ":2: ",
                 "model.layers: expected a list of maps, got a single value");
}

Test(config, malformed_yaml)
{
    expect_error("privacy: {epsilon: 1}\nname: [a, b\nseed: 3\n", ":", "malformed YAML");
    expect_error("privacy:\n  epsilon: 1\n\tseed: 3\n", ":3:", "malformed YAML");
    expect_error("privacy: {epsilon: 1}\nname: a: b\n", ":2:", "malformed YAML");
    expect_error("privacy: {epsilon: 1}\nname: \"unterminated\n", ":", "malformed YAML");
    expect_error("privacy: {epsilon: 1}\nseed: 1\nseed: 2\n", ":3:", "duplicate key 'seed' (first at line 2)");
    expect_error("privacy: {epsilon: &e 1}\nname: *e\n", ":2:", "anchors and aliases");
    expect_error("privacy: {epsilon: 1}\n---\nseed: 2\n", ":2:", "more than one YAML document");
    expect_error("- 1\n- 2\n", ":1:", "expected a map of keys at the top, got a list");
    expect_error("just text\n", ":1:", "expected a map of keys at the top, got a single value");
    expect_error("? [a, b]\n: 1\n", ":1:", "map keys must be scalars");
    expect_error("privacy: {epsilon: 1}\nname: \"\xff\xfe\"\n", ":", "malformed YAML");
}

Test(config, empty_file_gives_defaults)
{
    config *cfg;
    dpkit_error err;
    expect_error("", ": ", "missing required key 'privacy.epsilon'");
    expect_error("# only a comment\n\n", ": ", "missing required key 'privacy.epsilon'");
    const char *sets[] = {"privacy.epsilon=1"};
    cr_assert_eq(config_load_with_overrides(write_yaml(""), schema, sets, 1, &cfg, &err), 0, "%s",
                 err.message);
    cr_assert_eq(config_get_int(cfg, "training.epochs"), 60);
    cr_assert_eq(config_is_explicit(cfg, "training.epochs"), 0);
    config_free(cfg);
    /* an empty group is fine */
    cr_assert_eq(load("privacy: {epsilon: 1}\ntraining:\n", &cfg, &err), 0, "%s", err.message);
    config_free(cfg);
}

Test(config, missing_file)
{
    config *cfg;
    dpkit_error err;
    cr_assert_neq(config_load("/nonexistent/dir/x.yaml", schema, &cfg, &err), 0);
    cr_assert(strstr(err.message, "/nonexistent/dir/x.yaml: cannot open"), "%s", err.message);
}

Test(config, overrides)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 3}\nmodel:\n  layers: [{kind: conv2d, out: 8}]\n", &cfg,
                      &err),
                 0, "%s", err.message);
    cr_assert_eq(config_set(cfg, "privacy.epsilon", "1", &err), 0, "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 1.0);
    cr_assert_eq(config_set_assignment(cfg, "training.epochs=20", &err), 0, "%s", err.message);
    cr_assert_eq(config_get_int(cfg, "training.epochs"), 20);
    cr_assert_eq(config_is_explicit(cfg, "training.epochs"), 1);
    cr_assert_eq(config_set_assignment(cfg, " name = my run ", &err), 0, "%s", err.message);
    cr_assert_str_eq(config_get_string(cfg, "name"), "my run");
    cr_assert_eq(config_set_assignment(cfg, "output.dir=", &err), 0, "%s", err.message);
    cr_assert_str_eq(config_get_string(cfg, "output.dir"), "");
    cr_assert_eq(config_set_assignment(cfg, "output.dir=runs/a=b", &err), 0, "%s", err.message);
    cr_assert_str_eq(config_get_string(cfg, "output.dir"), "runs/a=b");
    cr_assert_eq(config_set_assignment(cfg, "model.layers[0].out=32", &err), 0, "%s", err.message);
    cr_assert_eq(config_get_int(cfg, "model.layers[0].out"), 32);

    /* bad overrides name the override and keep the old value */
    cr_assert_neq(config_set_assignment(cfg, "training.batch_size=abc", &err), 0);
    cr_assert_str_eq(err.message,
                     "--set training.batch_size=abc: training.batch_size: expected an integer, got 'abc'");
    cr_assert_eq(config_get_int(cfg, "training.batch_size"), 256);
    cr_assert_neq(config_set_assignment(cfg, "training.epoch=3", &err), 0);
    cr_assert_str_eq(err.message,
                     "--set training.epoch=3: unknown key 'training.epoch' (did you mean 'training.epochs'?)");
    cr_assert_neq(config_set_assignment(cfg, "training.optimizer.kind=adamw", &err), 0);
    cr_assert(strstr(err.message, "expected one of sgd, adam, got 'adamw'"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "training.optimizer=adam", &err), 0);
    cr_assert(strstr(err.message, "'training.optimizer' is a group of keys"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "model.layers[5].out=1", &err), 0);
    cr_assert(strstr(err.message, "model.layers has 1 items, no item 5"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "model.layers[x].out=1", &err), 0);
    cr_assert(strstr(err.message, "expected model.layers[INDEX].KEY"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "epochs", &err), 0);
    cr_assert(strstr(err.message, "expected KEY=VALUE"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "=3", &err), 0);
    cr_assert(strstr(err.message, "expected KEY=VALUE"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "seed=", &err), 0);
    cr_assert(strstr(err.message, "seed: expected an integer, got ''"), "%s", err.message);

    /* whole lists, validated like the file */
    cr_assert_eq(config_set_assignment(cfg, "model.layers=[{kind: dense, out: 10}, {kind: relu}]",
                                       &err),
                 0, "%s", err.message);
    cr_assert_eq(config_list_length(cfg, "model.layers"), 2);
    cr_assert_str_eq(config_get_string(cfg, "model.layers[1].kind"), "relu");
    cr_assert_neq(config_set_assignment(cfg, "model.layers=[{kind: dense, out: x}]", &err), 0);
    cr_assert_str_eq(err.message, "--set model.layers=[{kind: dense, out: x}]: "
                                  "model.layers[0].out: expected an integer, got 'x'");
    cr_assert_neq(config_set_assignment(cfg, "model.layers=[{kind: dense, units: 3}]", &err), 0);
    cr_assert(strstr(err.message, "unknown key 'model.layers[0].units'"), "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "model.layers=[oops", &err), 0);
    cr_assert(strstr(err.message, "malformed YAML"), "%s", err.message);
    cr_assert_eq(config_list_length(cfg, "model.layers"), 2);
    cr_assert_eq(config_set_assignment(cfg, "model.layers=[]", &err), 0, "%s", err.message);
    cr_assert_eq(config_list_length(cfg, "model.layers"), 0);
    config_free(cfg);

    /* an override in config_load_with_overrides that fails stops the load */
    const char *sets[] = {"privacy.epsilon=1", "seed=x"};
    cr_assert_neq(config_load_with_overrides(NULL, schema, sets, 2, &cfg, &err), 0);
    cr_assert_null(cfg);
    cr_assert(strstr(err.message, "--set seed=x"), "%s", err.message);
}

static void assert_same_config(const config *a, const config *b)
{
    for (const config_field *f = schema; f->path; f++) {
        switch (f->type) {
        case CONFIG_INT: cr_assert_eq(config_get_int(a, f->path), config_get_int(b, f->path)); break;
        case CONFIG_DOUBLE:
            cr_assert_eq(config_get_double(a, f->path), config_get_double(b, f->path), "%s", f->path);
            break;
        case CONFIG_BOOL: cr_assert_eq(config_get_bool(a, f->path), config_get_bool(b, f->path)); break;
        case CONFIG_STRING:
        case CONFIG_ENUM:
            cr_assert_str_eq(config_get_string(a, f->path), config_get_string(b, f->path));
            break;
        case CONFIG_LIST: {
            size_t n = config_list_length(a, f->path);
            cr_assert_eq(n, config_list_length(b, f->path));
            for (size_t i = 0; i < n; i++) {
                const config *x = config_list_item(a, f->path, i), *y = config_list_item(b, f->path, i);
                cr_assert_str_eq(config_get_string(x, "kind"), config_get_string(y, "kind"));
                cr_assert_eq(config_get_int(x, "out"), config_get_int(y, "out"));
                cr_assert_eq(config_get_int(x, "kernel"), config_get_int(y, "kernel"));
                cr_assert_eq(config_get_bool(x, "padding.same"), config_get_bool(y, "padding.same"));
            }
            break;
        }
        case CONFIG_INCLUDE:
        case CONFIG_DEFAULT: cr_assert_fail("%s: not a key", f->path); break;
        }
    }
}

static void round_trip(const char *text, const char *const *sets, size_t set_count)
{
    config *a, *b;
    dpkit_error err;
    cr_assert_eq(config_load_with_overrides(write_yaml(text), schema, sets, set_count, &a, &err), 0,
                 "%s", err.message);
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/resolved.yaml", test_temp_dir());
    cr_assert_eq(config_write_file(a, out_path, &err), 0, "%s", err.message);
    cr_assert_eq(config_load(out_path, schema, &b, &err), 0, "%s", err.message);
    assert_same_config(a, b);
    /* every key is explicit in the written file */
    for (const config_field *f = schema; f->path; f++)
        cr_assert_eq(config_is_explicit(b, f->path), 1, "%s", f->path);
    char *first, *second;
    cr_assert_eq(config_write_string(a, &first, &err), 0);
    cr_assert_eq(config_write_string(b, &second, &err), 0);
    cr_assert_str_eq(first, second);
    char *on_disk = test_read_file(out_path, NULL);
    cr_assert_str_eq(on_disk, first);
    free(on_disk);
    free(first);
    free(second);
    config_free(a);
    config_free(b);
}

Test(config, write_and_read_back)
{
    round_trip("privacy: {epsilon: 0.1}\n", NULL, 0);
    round_trip("privacy: {epsilon: 3.0000000000000004, delta: 1e-300}\n"
               "training: {optimizer: {lr: 0.30000000000000004}}\n"
               "model:\n  layers:\n    - {kind: conv2d, out: 16, kernel: 8, padding: {same: yes}}\n"
               "    - {kind: relu}\n",
               NULL, 0);
    /* strings that need quoting: numbers, booleans, nulls, indicators, escapes (control
     * characters among them), UTF-8 */
    const char *names[] = {"name=123",   "name=true", "name=null", "name=~",  "name=-x",
                           "name=a: b",  "name=# c",  "name=[x]",  "name=é€ ok", "name=.inf",
                           "name=a\"b\\c", "name=2021-01-01", "name=x\ty", "name=\xc2\x85", "name=_ok/path.x",
                           "name=a\x01\x7f\rb"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *sets[] = {names[i]};
        round_trip("privacy: {epsilon: 1}\n", sets, 1);
    }
    const char *sets[] = {"output.dir="};
    round_trip("privacy: {epsilon: 1}\n", sets, 1);

    /* a failed write names the file and leaves nothing behind */
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 1}\n", &cfg, &err), 0);
    cr_assert_neq(config_write_file(cfg, "/nonexistent/dir/config.yaml", &err), 0);
    cr_assert(strstr(err.message, "/nonexistent/dir/config.yaml.tmp."), "%s", err.message);
    config_free(cfg);
}

Test(config, written_yaml_is_grouped_in_schema_order)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 2}\nmodel: {layers: [{kind: dense, out: 10}]}\n", &cfg, &err),
                 0, "%s", err.message);
    char *text;
    cr_assert_eq(config_write_string(cfg, &text, &err), 0);
    const char *expected = "name: run  # name of the run\n"
                           "seed: 0  # random seed\n"
                           "training:\n"
                           "  epochs: 60  # passes over the data\n"
                           "  batch_size: 256  # expected batch size\n"
                           "  optimizer:\n"
                           "    kind: sgd  # optimizer\n"
                           "    lr: 0.1  # learning rate\n"
                           "  shuffle: true  # shuffle each epoch\n"
                           "privacy:\n"
                           "  epsilon: 2.0  # target epsilon\n"
                           "  delta: 1.0e-05  # target delta\n" /* YAML 1.1 floats need a dot */
                           "model:\n"
                           "  layers:  # layers of a cnn\n"
                           "    - kind: dense\n"
                           "      out: 10\n"
                           "      kernel: 3\n"
                           "      padding:\n"
                           "        same: false\n"
                           "output:\n"
                           "  dir: \"\"  # run directory\n";
    cr_assert_str_eq(text, expected);
    free(text);
    config_free(cfg);
}

Test(config, getters_misused_return_zero)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load("privacy: {epsilon: 2}\n", &cfg, &err), 0);
    cr_assert_eq(config_get_int(cfg, "no.such.key"), 0);
    cr_assert_eq(config_get_int(cfg, "privacy.epsilon"), 0); /* wrong type */
    cr_assert_str_eq(config_get_string(cfg, "seed"), "");
    cr_assert_eq(config_is_explicit(cfg, "nope"), 0);
    cr_assert_null(config_list_item(cfg, "model.layers", 0));
    config_free(cfg);
}

Test(config, schema_listing)
{
    char *text;
    size_t length;
    FILE *out = open_memstream(&text, &length);
    config_print_schema(out, schema);
    fclose(out);
    cr_assert(strstr(text, "training.epochs"));
    cr_assert(strstr(text, "(required)"));
    cr_assert(strstr(text, "sgd|adam"));
    cr_assert(strstr(text, "model.layers[].kind"));
    free(text);
}

Test(config, tree_reads_json)
{
    config_node *root;
    dpkit_error err;
    cr_assert_eq(config_parse_string("{\"events\": [{\"q\": 0.01, \"sigma\": 1.1, \"steps\": 1000},\n"
                                     "  {\"q\": 1e-3, \"name\": \"bn\\u00e9\\n\", \"ok\": true, \"x\": null}],\n"
                                     " \"version\":1}",
                                     "ledger.json", &root, &err),
                 0, "%s", err.message);
    const config_node *events = config_node_find(root, "events");
    cr_assert_eq(config_node_length(events), 2);
    double q;
    long steps;
    int ok;
    cr_assert_eq(config_node_double(config_node_find(root, "events[1].q"), &q, &err), 0);
    cr_assert_eq(q, 1e-3);
    cr_assert_eq(config_node_int(config_node_find(root, "events[0].steps"), &steps, &err), 0);
    cr_assert_eq(steps, 1000);
    cr_assert_eq(config_node_bool(config_node_find(root, "events[1].ok"), &ok, &err), 0);
    cr_assert_eq(ok, 1);
    cr_assert_str_eq(config_node_find(root, "events[1].name")->value, "bn\xc3\xa9\n");
    cr_assert(config_node_is_null(config_node_find(root, "events[1].x")));
    cr_assert_eq(config_node_find(root, "events[1].x")->line, 2);
    cr_assert_eq(config_node_int(config_node_find(root, "version"), &steps, &err), 0);
    cr_assert_eq(steps, 1);
    /* conversion errors name the source, line and path */
    cr_assert_neq(config_node_int(config_node_find(root, "events[0].q"), &steps, &err), 0);
    cr_assert_str_eq(err.message, "ledger.json:1: events[0].q: expected an integer, got '0.01'");
    const config_node *item = config_node_item(events, 1);
    cr_assert_eq(item->kind, CONFIG_NODE_MAP);
    cr_assert_str_eq(item->children[0]->key, "q");
    cr_assert_null(config_node_item(events, 2));
    cr_assert_null(config_node_find(root, "events[2]"));
    cr_assert_null(config_node_find(root, "events.q"));
    cr_assert_null(config_node_find(root, "version.x"));
    cr_assert_null(config_node_find(root, "events[x]"));
    config_node_free(root);

    /* a JSON file as a config */
    config *cfg;
    cr_assert_eq(load("{\"privacy\": {\"epsilon\": 8}, \"model\": {\"layers\": [{\"kind\": \"dense\"}]}}",
                      &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 8.0);
    cr_assert_str_eq(config_get_string(cfg, "model.layers[0].kind"), "dense");
    config_free(cfg);
    expect_error("{\"privacy\": {\"epsilon\": 8},\n \"seeds\": 3}", ":2: ",
                 "unknown key 'seeds' (did you mean 'seed'?)");
    cr_assert_neq(config_parse_string("{\"a\": 1,", "x.json", &root, &err), 0);
    cr_assert(strstr(err.message, "x.json:") && strstr(err.message, "malformed YAML"), "%s", err.message);
}

Test(config, tree_limits_and_empty_input)
{
    config_node *root = (config_node *)1;
    dpkit_error err;
    cr_assert_eq(config_parse_string("", "empty", &root, &err), 0);
    cr_assert_null(root);
    cr_assert_eq(config_node_length(NULL), 0);
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    cr_assert_neq(config_parse_string(deep, "deep", &root, &err), 0);
    cr_assert(strstr(err.message, "nested too deeply"), "%s", err.message);
    cr_assert_null(root);
    cr_assert_eq(config_parse_string("a: 1\nb:\n  - x\n  - y: 2\n", "s", &root, &err), 0);
    cr_assert_str_eq(config_node_find(root, "b[1].y")->path, "b[1].y");
    cr_assert_eq(config_node_find(root, "b[1].y")->key_line, 4);
    cr_assert_eq(config_node_find(root, "b")->key_line, 2);
    cr_assert_str_eq(config_node_find(root, "b[0]")->value, "x");
    config_node_free(root);
    cr_assert_eq(config_parse_string("a: '1'\nb: 1\n", "s", &root, &err), 0);
    cr_assert_eq(config_node_find(root, "a")->quoted, 1);
    cr_assert_eq(config_node_find(root, "b")->quoted, 0);
    config_node_free(root);
}

/* ---- bounds, fragments and the origin of values ---- */

static const config_field fragment[] = {
    {"privacy.epsilon", CONFIG_DOUBLE, "0", "target epsilon", "0..1e6", NULL},
    {"privacy.delta", CONFIG_DOUBLE, "1e-5", "delta", "0..1", NULL},
    {"privacy.clip", CONFIG_DOUBLE, "1", "clip norm", "1e-12..", NULL},
    {0}};

static const config_field bounded_layer[] = {
    {"units", CONFIG_INT, "1", "outputs", "1..4096", NULL},
    {0}};

static const config_field bounded[] = {
    {"seed", CONFIG_INT, "0", "seed", "0..9223372036854775807", NULL},
    {"epochs", CONFIG_INT, "10", "epochs", "1..100", NULL},
    {"lr", CONFIG_DOUBLE, "0.1", "learning rate", "..10", NULL},
    {"layers", CONFIG_LIST, "[]", "layers", NULL, bounded_layer},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, fragment},
    {"privacy.delta", CONFIG_DEFAULT, "1e-7", "delta of this kind", NULL, NULL},
    {0}};

static int load_bounded(const char *text, const char *const *sets, size_t set_count,
                        config **cfg, dpkit_error *err)
{
    error_clear(err);
    return config_load_with_overrides(write_yaml(text), bounded, sets, set_count, cfg, err);
}

Test(config, bounds_name_file_line_key_value_and_range)
{
    config *cfg = NULL;
    dpkit_error err;
    char expected[1024];
    cr_assert_neq(load_bounded("seed: 1\nepochs: 0\n", NULL, 0, &cfg, &err), 0);
    cr_assert_null(cfg);
    snprintf(expected, sizeof expected, "%s:2: epochs: 0, expected 1..100", file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_neq(load_bounded("lr: 11\n", NULL, 0, &cfg, &err), 0);
    snprintf(expected, sizeof expected, "%s:1: lr: 11, expected <= 10", file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_neq(load_bounded("privacy:\n  clip: 0\n", NULL, 0, &cfg, &err), 0);
    snprintf(expected, sizeof expected, "%s:2: privacy.clip: 0, expected >= 1e-12", file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_neq(load_bounded("seed: -1\n", NULL, 0, &cfg, &err), 0);
    snprintf(expected, sizeof expected, "%s:1: seed: -1, expected 0..9223372036854775807",
             file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_neq(load_bounded("layers:\n  - units: 2\n  - units: 5000\n", NULL, 0, &cfg, &err), 0);
    snprintf(expected, sizeof expected, "%s:3: layers[1].units: 5000, expected 1..4096",
             file_path);
    cr_assert_str_eq(err.message, expected);

    /* the ends are included; integer bounds are exact */
    cr_assert_eq(load_bounded("seed: 9223372036854775807\nepochs: 100\nlr: 10\n"
                              "privacy: {delta: 1, epsilon: 0}\n",
                              NULL, 0, &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_get_int(cfg, "seed"), 9223372036854775807L);
    cr_assert_eq(config_get_int(cfg, "epochs"), 100);
    config_free(cfg);
}

Test(config, bounds_of_an_override_name_the_override)
{
    config *cfg = NULL;
    dpkit_error err;
    const char *sets[] = {"epochs=5", "epochs=101"};
    cr_assert_neq(load_bounded("epochs: 3\n", sets, 2, &cfg, &err), 0);
    cr_assert_null(cfg);
    cr_assert_str_eq(err.message, "--set epochs=101: epochs: 101, expected 1..100");
    const char *set_delta[] = {"privacy.delta=2"};
    cr_assert_neq(load_bounded("", set_delta, 1, &cfg, &err), 0);
    cr_assert_str_eq(err.message, "--set privacy.delta=2: privacy.delta: 2, expected 0..1");
    const char *set_layers[] = {"layers=[{units: 0}]"};
    cr_assert_neq(load_bounded("", set_layers, 1, &cfg, &err), 0);
    cr_assert_str_eq(err.message,
                     "--set layers=[{units: 0}]: layers[0].units: 0, expected 1..4096");

    /* an override replaces a file value the range rejects, as it may supply a required key */
    const char *fix[] = {"epochs=100"};
    cr_assert_eq(load_bounded("epochs: 0\nlr: 11\n", fix, 1, &cfg, &err), -1);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s:2: lr: 11, expected <= 10", file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_eq(load_bounded("epochs: 0\n", fix, 1, &cfg, &err), 0, "%s", err.message);
    cr_assert_eq(config_get_int(cfg, "epochs"), 100);
    config_free(cfg);

    /* a rejected override keeps the old value */
    cr_assert_eq(load_bounded("epochs: 3\n", NULL, 0, &cfg, &err), 0, "%s", err.message);
    cr_assert_neq(config_set_assignment(cfg, "epochs=0", &err), 0);
    cr_assert_str_eq(err.message, "--set epochs=0: epochs: 0, expected 1..100");
    cr_assert_eq(config_get_int(cfg, "epochs"), 3);
    config_free(cfg);
}

Test(config, where_a_value_came_from)
{
    config *cfg;
    dpkit_error err;
    const char *sets[] = {"lr=0.5"};
    cr_assert_eq(load_bounded("seed: 1\n\nepochs: 4\nlayers:\n  - {units: 3}\n", sets, 1, &cfg,
                              &err),
                 0, "%s", err.message);
    char where[1024], expected[1024];
    config_where(cfg, "epochs", where, sizeof where);
    snprintf(expected, sizeof expected, "%s:3", file_path);
    cr_assert_str_eq(where, expected);
    config_where(cfg, "layers[0].units", where, sizeof where);
    snprintf(expected, sizeof expected, "%s:5", file_path);
    cr_assert_str_eq(where, expected);
    config_where(cfg, "lr", where, sizeof where);
    cr_assert_str_eq(where, "--set lr=0.5");
    config_where(cfg, "privacy.delta", where, sizeof where); /* a default */
    cr_assert_str_eq(where, file_path);

    cr_assert_eq(config_error(cfg, "epochs", &err, "%d is odd", 3), -1);
    snprintf(expected, sizeof expected, "%s:3: epochs: 3 is odd", file_path);
    cr_assert_str_eq(err.message, expected);
    cr_assert_eq(config_set_assignment(cfg, "epochs=7", &err), 0, "%s", err.message);
    config_error(cfg, "epochs", &err, "too many");
    cr_assert_str_eq(err.message, "--set epochs=7: epochs: too many");
    config_free(cfg);
}

Test(config, fragments_are_included_in_place_with_new_defaults)
{
    config *cfg;
    dpkit_error err;
    cr_assert_eq(load_bounded("privacy: {epsilon: 2}\n", NULL, 0, &cfg, &err), 0, "%s",
                 err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.epsilon"), 2.0);
    cr_assert_eq(config_get_double(cfg, "privacy.delta"), 1e-7); /* the CONFIG_DEFAULT row */
    cr_assert_eq(config_get_double(cfg, "privacy.clip"), 1.0);
    char *text;
    cr_assert_eq(config_write_string(cfg, &text, &err), 0);
    const char *layers = strstr(text, "layers:"), *privacy = strstr(text, "privacy:");
    cr_assert(layers && privacy && layers < privacy, "%s", text);
    cr_assert(strstr(text, "delta: 1.0e-07  # delta of this kind"), "%s", text);
    free(text);
    config_free(cfg);

    /* a selection of the fragment's keys: the others are unknown */
    static const config_field some[] = {
        {"privacy.delta|privacy.clip", CONFIG_INCLUDE, NULL, NULL, NULL, fragment},
        {0}};
    cr_assert_eq(config_load(write_yaml("privacy: {clip: 2}\n"), some, &cfg, &err), 0, "%s",
                 err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.clip"), 2.0);
    config_free(cfg);
    cr_assert_neq(config_load(write_yaml("privacy: {epsilon: 2}\n"), some, &cfg, &err), 0);
    cr_assert(strstr(err.message, "unknown key 'privacy.epsilon'"), "%s", err.message);

    char *listing;
    size_t length;
    FILE *out = open_memstream(&listing, &length);
    config_print_schema(out, bounded);
    fclose(out);
    cr_assert(strstr(listing, "privacy.delta") && strstr(listing, "double 0..1"), "%s", listing);
    cr_assert(strstr(listing, "= 1e-7") && strstr(listing, "delta of this kind"), "%s", listing);
    cr_assert(strstr(listing, "layers[].units") && strstr(listing, "int 1..4096"), "%s", listing);
    free(listing);
}

Test(config, malformed_schemas_are_reported)
{
    static const config_field twice[] = {
        {"privacy.delta", CONFIG_DOUBLE, "0", "", NULL, NULL},
        {"*", CONFIG_INCLUDE, NULL, NULL, NULL, fragment},
        {0}};
    static const config_field missing[] = {
        {"privacy.delta|privacy.sigma", CONFIG_INCLUDE, NULL, NULL, NULL, fragment},
        {0}};
    static const config_field orphan_default[] = {
        {"privacy.delta", CONFIG_DEFAULT, "0.5", NULL, NULL, NULL},
        {"*", CONFIG_INCLUDE, NULL, NULL, NULL, fragment},
        {0}};
    static const config_field bad_range[] = {
        {"epochs", CONFIG_INT, "1", "", "1..2.5", NULL},
        {0}};
    static const config_field reversed_range[] = {
        {"epochs", CONFIG_INT, "1", "", "5..1", NULL},
        {0}};
    static const config_field default_outside[] = {
        {"epochs", CONFIG_INT, "0", "", "1..5", NULL},
        {0}};
    struct {
        const config_field *schema;
        const char *message;
    } cases[] = {
        {twice, "key 'privacy.delta' listed twice"},
        {missing, "included key 'privacy.sigma' is not in the fragment"},
        {orphan_default, "new default for 'privacy.delta', which is not listed above it"},
        {bad_range, "epochs: range '1..2.5', expected MIN..MAX"},
        {reversed_range, "epochs: range '5..1'"},
        {default_outside, "schema default: epochs: 0, expected 1..5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config *cfg = NULL;
        dpkit_error err;
        cr_assert_neq(config_load(NULL, cases[i].schema, &cfg, &err), 0, "case %zu", i);
        cr_assert_null(cfg);
        cr_assert(strstr(err.message, cases[i].message), "case %zu: %s", i, err.message);
        cr_assert_neq(config_check_schema(cases[i].schema, &err), 0, "case %zu", i);
        cr_assert(strstr(err.message, cases[i].message), "case %zu: %s", i, err.message);
    }
    dpkit_error err;
    cr_assert_eq(config_check_schema(bounded, &err), 0, "%s", err.message);
    cr_assert_eq(config_check_schema(schema, &err), 0, "%s", err.message);
}

/* The training config: its bounds and the checks between keys name where the value came
 * from, the file's line or the override. */
Test(config, training_config_errors_name_file_line_or_override)
{
    const char *text = "data: {dataset: synthetic}\n"
                       "privacy:\n"
                       "  epsilon: 2\n"
                       "  delta: 0\n"
                       "training: {epochs: 3}\n";
    const char *path = write_yaml(text);
    run_config rc;
    dpkit_error err;
    char expected[1024];
    /* a bound of the schema, in the file */
    cr_assert_neq(run_config_load(write_yaml("data: {dataset: synthetic}\nfeatures:\n"
                                             "  scatter: {J: 9}\n"),
                                  NULL, 0, &rc, &err),
                  0);
    snprintf(expected, sizeof expected, "%s:3: features.scatter.J: 9, expected 1..8", file_path);
    cr_assert_str_eq(err.message, expected);
    /* a check between keys, in the file */
    path = write_yaml(text);
    cr_assert_neq(run_config_load(path, NULL, 0, &rc, &err), 0);
    snprintf(expected, sizeof expected,
             "%s:4: privacy.delta: 0, expected 0 < delta < 1 (privacy.enabled is true)", path);
    cr_assert_str_eq(err.message, expected);
    /* the same from --set: named by the override, not the file */
    const char *fix_delta[] = {"privacy.delta=1e-5", "training.epochs=0"};
    cr_assert_neq(run_config_load(path, fix_delta, 2, &rc, &err), 0);
    cr_assert_str_eq(err.message,
                     "--set training.epochs=0: training.epochs: 0, expected 1..100000");
    const char *zero_delta[] = {"privacy.delta=0"};
    cr_assert_neq(run_config_load(path, zero_delta, 1, &rc, &err), 0);
    cr_assert_str_eq(err.message, "--set privacy.delta=0: privacy.delta: 0, expected 0 < delta < "
                                  "1 (privacy.enabled is true)");
    const char *nesterov[] = {"privacy.delta=1e-5", "training.optimizer.nesterov=true"};
    cr_assert_neq(run_config_load(path, nesterov, 2, &rc, &err), 0);
    cr_assert_str_eq(err.message, "--set training.optimizer.nesterov=true: "
                                  "training.optimizer.nesterov: needs a momentum > 0");
    const char *seed[] = {"privacy.delta=1e-5", "seed=-1"};
    cr_assert_neq(run_config_load(path, seed, 2, &rc, &err), 0);
    cr_assert_str_eq(err.message, "--set seed=-1: seed: -1, expected 0..9223372036854775807");
    /* accepted as before: the bounds are inclusive */
    const char *edges[] = {"privacy.delta=1e-5", "training.optimizer.momentum=1",
                           "features.scatter.J=8", "privacy.noise_multiplier=1e6"};
    cr_assert_eq(run_config_load(path, edges, 4, &rc, &err), 0, "%s", err.message);
    cr_assert_eq(rc.optimizer.momentum, 1.0);
    cr_assert_eq(rc.extractor.scatter_J, 8);
    cr_assert_eq(rc.train.epochs, 3);
    run_config_free(&rc);
}

Test(config, library_schemas_are_well_formed)
{
    dpkit_error err;
    cr_assert_eq(config_check_schema(run_config_schema, &err), 0, "%s", err.message);
    cr_assert_eq(config_check_schema(run_curve_schema, &err), 0, "%s", err.message);
    /* the fragments are the training config's own keys */
    config *cfg;
    cr_assert_eq(config_load_with_overrides(NULL, run_config_schema, (const char *[]){"data.dataset=x"},
                                            1, &cfg, &err),
                 0, "%s", err.message);
    cr_assert_eq(config_get_double(cfg, "privacy.delta"), 1e-5);
    cr_assert_eq(config_get_int(cfg, "training.epochs"), 40);
    cr_assert_str_eq(config_get_string(cfg, "output.dir"), "");
    config_free(cfg);
}
