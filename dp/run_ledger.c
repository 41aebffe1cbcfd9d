/* A saved run's privacy ledger read back with what its file records about it: the delta and
 * privacy setting of the stored config and the epsilon the run reported (dp/run_ledger.h). */
#include "dp/run_ledger.h"

#include "common/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

/* privacy.delta, privacy.enabled and privacy.accountant of the YAML config stored in the file;
 * keys an older file lacks keep their defaults (NAN, 1, ""). */
static int read_config(run_ledger *rl, h5io_file *f, dpkit_error *err)
{
    if (!h5io_has_attr(f, "/", "config"))
        return 0;
    char *text = NULL, source[4200];
    snprintf(source, sizeof source, "%s (stored config)", f->path);
    config_node *root = NULL;
    int status = h5io_read_attr_string(f, "/", "config", &text, err) ||
                 config_parse_string(text, source, &root, err);
    free(text);
    const config_node *delta = status ? NULL : config_node_find(root, "privacy.delta");
    const config_node *enabled = status ? NULL : config_node_find(root, "privacy.enabled");
    const config_node *accountant = status ? NULL : config_node_find(root, "privacy.accountant");
    if (delta)
        status = config_node_double(delta, &rl->delta, err);
    if (!status && enabled)
        status = config_node_bool(enabled, &rl->private_mode, err);
    if (!status && accountant && accountant->value)
        snprintf(rl->accountant, sizeof rl->accountant, "%s", accountant->value);
    config_node_free(root);
    rl->has_config = !status;
    return status;
}

static int load_h5(const char *path, run_ledger *rl, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_open_read(path, &f, err))
        return -1;
    /* model.h5 keeps the ledger at the top, a checkpoint inside its training state */
    const char *epsilon_object = "/";
    int status = 0;
    if (h5io_exists(f, "/ledger")) {
        snprintf(rl->source, sizeof rl->source, "model");
        snprintf(rl->group, sizeof rl->group, "/ledger");
    } else if (h5io_exists(f, "/state/ledger")) {
        snprintf(rl->source, sizeof rl->source, "checkpoint");
        snprintf(rl->group, sizeof rl->group, "/state/ledger");
        epsilon_object = "/state";
    } else {
        status = error_set(err, "%s: no privacy ledger: expected the group /ledger (a model.h5) "
                                "or /state/ledger (a checkpoint.h5)", path);
    }
    if (!status)
        status = accountant_ledger_load_h5(&rl->ledger, f, rl->group, err) ||
                 read_config(rl, f, err);
    if (!status && h5io_has_attr(f, epsilon_object, "epsilon"))
        status = h5io_read_attr_double(f, epsilon_object, "epsilon", &rl->recorded_epsilon, err);
    h5io_close(f);
    return status;
}

int run_ledger_load(const char *path, run_ledger *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    accountant_ledger_init(&out->ledger);
    out->delta = NAN;
    out->private_mode = 1;
    out->recorded_epsilon = NAN;
    int status;
    if (ends_with(path, ".json")) {
        snprintf(out->source, sizeof out->source, "json");
        status = accountant_ledger_load_json(&out->ledger, path, err);
    } else {
        status = load_h5(path, out, err);
    }
    if (status)
        run_ledger_free(out);
    return status ? -1 : 0;
}

void run_ledger_free(run_ledger *rl)
{
    accountant_ledger_free(&rl->ledger);
}

int run_ledger_epsilon(const run_ledger *rl, double delta, const accountant_options *options,
                       double *epsilon, double *order, dpkit_error *err)
{
    /* A run without privacy records no steps: its empty ledger would claim epsilon 0. */
    if (!rl->private_mode) {
        if (!(delta > 0.0 && delta < 1.0))
            return error_set(err, "delta %g must be in (0, 1)", delta);
        *epsilon = INFINITY;
        if (order)
            *order = NAN;
        return 0;
    }
    return accountant_ledger_epsilon(&rl->ledger, delta, options, epsilon, order, err);
}
