/* The signals of a membership audit (docs/formats.md, format dpkit-membership-signals-1): what
 * anyone needs to recompute its AUCs and TPRs, draw their own ROC curves or combine the scores
 * with another attack, without re-running the shadow models. */
#include "audit/audit.h"
#include "common/h5io.h"

#include <stdio.h>

#define SIGNALS_FORMAT "dpkit-membership-signals-1"

static int write_roc(h5io_file *f, const char *name, const audit_roc *roc, dpkit_error *err)
{
    char path[64];
    size_t n = roc->points;
    snprintf(path, sizeof path, "/roc/%s", name);
    if (h5io_ensure_group(f, path, err))
        return -1;
    snprintf(path, sizeof path, "/roc/%s/fpr", name);
    if (h5io_write_array(f, path, H5IO_FLOAT64, 1, &n, roc->fpr, err))
        return -1;
    snprintf(path, sizeof path, "/roc/%s/tpr", name);
    if (h5io_write_array(f, path, H5IO_FLOAT64, 1, &n, roc->tpr, err))
        return -1;
    snprintf(path, sizeof path, "/roc/%s/threshold", name);
    if (h5io_write_array(f, path, H5IO_FLOAT64, 1, &n, roc->thresholds, err))
        return -1;
    snprintf(path, sizeof path, "/roc/%s", name);
    return h5io_write_attr_double(f, path, "auc", roc->auc, err);
}

int audit_membership_write_signals(const audit_membership_result *r, const char *path,
                                   dpkit_error *err)
{
    if (!r->member || !r->score_loss || !r->score_offline || !r->score_online)
        return error_set(err, "%s: the membership audit kept no signals", path);
    h5io_file *f;
    if (h5io_create(path, &f, err))
        return -1;
    size_t n = r->examples;
    int status = h5io_write_array(f, "/member", H5IO_UINT8, 1, &n, r->member, err) ||
                 h5io_write_array(f, "/score_loss", H5IO_FLOAT64, 1, &n, r->score_loss, err) ||
                 h5io_write_array(f, "/score_lira_offline", H5IO_FLOAT64, 1, &n,
                                  r->score_offline, err) ||
                 h5io_write_array(f, "/score_lira_online", H5IO_FLOAT64, 1, &n,
                                  r->score_online, err) ||
                 h5io_ensure_group(f, "/roc", err) ||
                 write_roc(f, "loss", &r->loss.roc, err) ||
                 write_roc(f, "lira_offline", &r->offline.roc, err) ||
                 write_roc(f, "lira_online", &r->online.roc, err) ||
                 h5io_write_attr_string(f, "/", "format", SIGNALS_FORMAT, err) ||
                 h5io_write_attr_string(f, "/", "dpkit_version", DPKIT_VERSION, err);
    return h5io_finish(f, status, err);
}
