/* A config given to the wrong command: the training, audit and curve configs are told apart by
 * their top-level keys, and the error names the command that runs the file; configs of the
 * right kind keep their own messages. */
#include "common/config.h"
#include "dp/run_config.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *training_text =
    "name: tiny\n"
    "seed: 7\n"
    "data: {dataset: synthetic}\n"
    "privacy: {epsilon: 4.0}\n";
static const char *audit_text =
    "name: one-run\n"
    "kind: one-run\n"
    "training: {config: train.yaml}\n";
static const char *canary_text =
    "kind: canaries\n"
    "name: secret-sharer\n";
static const char *curve_text =
    "name: c\n"
    "runs:\n"
    "  - {label: linear, config: train.yaml}\n"
    "epsilons: \"1 2\"\n";

static char dir[1024];

static void setup_dir(void)
{
    snprintf(dir, sizeof dir, "%s", test_temp_dir());
    const char *names[] = {"train.yaml", "audit.yaml", "canaries.yaml", "curve.yaml"};
    const char *texts[] = {training_text, audit_text, canary_text, curve_text};
    for (int i = 0; i < 4; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cr_assert_eq(test_write_file(path, texts[i], strlen(texts[i])), 0);
    }
}

TestSuite(cli_config_kind, .init = setup_dir);

/* Runs `dpkit COMMAND DIR/FILE` (it stops at the config, before any work), expects exit
 * status 1 and the hint. */
static void expect_hint(const char *command, const char *file, const char *hint)
{
    char args[3000], expected[2000];
    snprintf(args, sizeof args, "%s %s/%s", command, dir, file);
    char *out;
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s: %s", args, out);
    snprintf(expected, sizeof expected, "%s/%s looks like %s", dir, file, hint);
    cr_assert(strstr(out, expected) != NULL, "%s: expected '%s' in:\n%s", args, expected, out);
    free(out);
}

Test(cli_config_kind, a_config_given_to_the_wrong_command_names_the_right_one)
{
    const char *training = "a training config (it has data.dataset and no kind); run it with "
                           "`dpkit train`";
    const char *audit = "an audit config (it has kind: one-run); run it with `dpkit audit`";
    const char *curve = "a curve config (it has a runs list and no kind); run it with "
                        "`dpkit curve`";
    expect_hint("audit", "train.yaml", training);
    expect_hint("audit-canaries", "train.yaml", training);
    expect_hint("curve", "train.yaml", training);
    expect_hint("train", "audit.yaml", audit);
    expect_hint("features", "audit.yaml", audit);
    expect_hint("curve", "audit.yaml", audit);
    expect_hint("train", "canaries.yaml",
                "an audit config (it has kind: canaries); run it with `dpkit audit`");
    expect_hint("train", "curve.yaml", curve);
    expect_hint("audit", "curve.yaml", curve);
}

/* The loader's own message is kept after the hint: the first unknown key is still named. */
Test(cli_config_kind, the_original_error_is_kept)
{
    char args[2200], *out;
    snprintf(args, sizeof args, "audit %s/train.yaml", dir);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_assert(strstr(out, "train.yaml:2: unknown key 'seed'") != NULL, "%s", out);
    free(out);
}

/* A config of the right kind with a mistake, or a file that is no known kind, gets no hint. */
Test(cli_config_kind, no_hint_for_a_config_of_the_right_kind)
{
    const char *texts[] = {"data: {dataset: synthetic}\ntraining: {epoch: 3}\n",
                           "dat: {dataset: synthetic}\n", "zzz: 1\n",
                           "data: {dataset: synthetic}\ntraining: {epochs: 0}\n"};
    for (int i = 0; i < 4; i++) {
        char path[1200], args[2600];
        snprintf(path, sizeof path, "%s/bad%d.yaml", dir, i);
        cr_assert_eq(test_write_file(path, texts[i], strlen(texts[i])), 0);
        snprintf(args, sizeof args, "train %s --output %s/out", path, dir);
        char *out;
        cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
        cr_assert(strstr(out, "looks like") == NULL, "%s", out);
        free(out);
    }
}

static run_config_kind classify(const char *text, char *why, size_t size)
{
    config_node *root = NULL;
    dpkit_error err;
    cr_assert_eq(config_parse_string(text, "test", &root, &err), 0, "%s", err.message);
    run_config_kind kind = run_config_classify(root, why, size);
    config_node_free(root);
    return kind;
}

Test(cli_config_kind, classify_by_top_level_keys)
{
    char why[128];
    cr_assert_eq(classify(training_text, why, sizeof why), RUN_CONFIG_KIND_TRAINING);
    cr_assert_str_eq(why, "it has data.dataset and no kind");
    cr_assert_eq(classify(audit_text, why, sizeof why), RUN_CONFIG_KIND_AUDIT);
    cr_assert_str_eq(why, "it has kind: one-run");
    cr_assert_eq(classify("kind: membership\n", why, sizeof why), RUN_CONFIG_KIND_AUDIT);
    cr_assert_eq(classify("kind: multi-run\n", why, sizeof why), RUN_CONFIG_KIND_AUDIT);
    cr_assert_eq(classify(canary_text, why, sizeof why), RUN_CONFIG_KIND_AUDIT);
    cr_assert_eq(classify(curve_text, why, sizeof why), RUN_CONFIG_KIND_CURVE);
    cr_assert_eq(classify("kind: other\ndata: {dataset: x}\n", why, sizeof why),
                 RUN_CONFIG_KIND_UNKNOWN);
    cr_assert_eq(classify("runs: 3\n", why, sizeof why), RUN_CONFIG_KIND_UNKNOWN);
    cr_assert_eq(classify("[1, 2]\n", why, sizeof why), RUN_CONFIG_KIND_UNKNOWN);
    cr_assert_eq(run_config_classify(NULL, why, sizeof why), RUN_CONFIG_KIND_UNKNOWN);
    cr_assert_str_eq(why, "");
}
