/* Which command a config file belongs to (training, audit, curve or robustness config), told from its
 * top-level keys, so that a config given to the wrong command is answered with the right one
 * rather than with its first unknown key alone. */
#include "dp/run_config.h"

#include <stdio.h>
#include <string.h>

static const char *const audit_kinds[] = {"membership", "one-run", "multi-run", "canaries"};

run_config_kind run_config_classify(const config_node *root, char *why, size_t size)
{
    why[0] = '\0';
    if (!root || root->kind != CONFIG_NODE_MAP)
        return RUN_CONFIG_KIND_UNKNOWN;
    const config_node *kind = config_node_find(root, "kind");
    if (kind) {
        for (size_t i = 0; i < sizeof audit_kinds / sizeof audit_kinds[0]; i++)
            if (kind->value && strcmp(kind->value, audit_kinds[i]) == 0) {
                snprintf(why, size, "it has kind: %s", kind->value);
                return RUN_CONFIG_KIND_AUDIT;
            }
        if (kind->value && strcmp(kind->value, "robustness") == 0) {
            snprintf(why, size, "it has kind: robustness");
            return RUN_CONFIG_KIND_ROBUSTNESS;
        }
        return RUN_CONFIG_KIND_UNKNOWN; /* a kind no config has: nothing to say */
    }
    const config_node *runs = config_node_find(root, "runs");
    if (runs && runs->kind == CONFIG_NODE_SEQUENCE) {
        snprintf(why, size, "it has a runs list and no kind");
        return RUN_CONFIG_KIND_CURVE;
    }
    if (config_node_find(root, "data.dataset")) {
        snprintf(why, size, "it has data.dataset and no kind");
        return RUN_CONFIG_KIND_TRAINING;
    }
    return RUN_CONFIG_KIND_UNKNOWN;
}

int run_config_explain_kind(const char *path, run_config_kind expected, dpkit_error *err)
{
    static const char *const names[] = {"", "a training", "an audit", "a curve", "a robustness"};
    static const char *const commands[] = {"", "dpkit train", "dpkit audit", "dpkit curve",
                                           "dpkit robustness"};
    /* Any failure counts, not only unknown keys: another kind's key may exist here with
     * another type (a curve's `runs` list is an audit's run count). A config of the expected
     * kind, or a file that does not parse, keeps its message as it is. */
    if (!path || !err)
        return -1;
    config_node *root = NULL;
    dpkit_error ignored;
    if (config_parse_file(path, &root, &ignored) != 0)
        return -1;
    char why[128];
    run_config_kind kind = run_config_classify(root, why, sizeof why);
    config_node_free(root);
    if (kind == RUN_CONFIG_KIND_UNKNOWN || kind == expected)
        return -1;
    char original[DPKIT_ERROR_MESSAGE_SIZE];
    snprintf(original, sizeof original, "%s", err->message);
    return error_set(err, "%s looks like %s config (%s); run it with `%s` (%s)", path,
                     names[kind], why, commands[kind], original);
}
