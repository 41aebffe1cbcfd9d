/* ROC curve of a membership test, its area, balanced accuracy and TPR at low FPR (as sklearn's
 * roc_curve/auc without dropping collinear points; docs/maths.md 6c item 6). */
#include "audit/audit_internal.h"

#include "common/memory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct labelled {
    double score;
    uint8_t label;
} labelled;

static int compare_descending(const void *a, const void *b)
{
    double x = ((const labelled *)a)->score, y = ((const labelled *)b)->score;
    return (x < y) - (x > y);
}

void audit_roc_free(audit_roc *roc)
{
    if (!roc)
        return;
    MEMORY_FREE_ALL(roc->fpr, roc->tpr, roc->thresholds);
    memset(roc, 0, sizeof *roc);
}

int audit_roc_compute(const double *scores, const uint8_t *labels, size_t n, audit_roc *roc,
                      dpkit_error *err)
{
    memset(roc, 0, sizeof *roc);
    size_t positives = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i]))
            return error_set(err, "ROC: score %zu is NaN", i);
        if (labels[i] > 1)
            return error_set(err, "ROC: label %zu is %u, expected 0 or 1", i, labels[i]);
        positives += labels[i];
    }
    size_t negatives = n - positives;
    if (positives == 0 || negatives == 0)
        return error_set(err, "ROC: %zu members and %zu non-members, expected both", positives,
                         negatives);
    labelled *sorted = malloc(n * sizeof *sorted);
    roc->fpr = malloc((n + 1) * sizeof(double));
    roc->tpr = malloc((n + 1) * sizeof(double));
    roc->thresholds = malloc((n + 1) * sizeof(double));
    if (!sorted || !roc->fpr || !roc->tpr || !roc->thresholds) {
        free(sorted);
        audit_roc_free(roc);
        return error_set(err, "ROC: out of memory for %zu scores", n);
    }
    for (size_t i = 0; i < n; i++) {
        sorted[i].score = scores[i];
        sorted[i].label = labels[i];
    }
    qsort(sorted, n, sizeof *sorted, compare_descending);
    size_t points = 0, tp = 0, fp = 0;
    roc->fpr[0] = roc->tpr[0] = 0.0;
    roc->thresholds[0] = INFINITY;
    points = 1;
    double auc = 0.0, balanced = 0.5;
    for (size_t i = 0; i < n; i++) {
        tp += sorted[i].label;
        fp += !sorted[i].label;
        /* One point per distinct score: all examples at >= threshold are called members. */
        if (i + 1 < n && sorted[i + 1].score == sorted[i].score)
            continue;
        double fpr = (double)fp / (double)negatives, tpr = (double)tp / (double)positives;
        auc += (fpr - roc->fpr[points - 1]) * 0.5 * (tpr + roc->tpr[points - 1]);
        double accuracy = 1.0 - 0.5 * (fpr + (1.0 - tpr));
        if (accuracy > balanced)
            balanced = accuracy;
        roc->fpr[points] = fpr;
        roc->tpr[points] = tpr;
        roc->thresholds[points] = sorted[i].score;
        points++;
    }
    free(sorted);
    roc->points = points;
    roc->auc = auc;
    roc->balanced_accuracy = balanced;
    return 0;
}

double audit_roc_tpr_at_fpr(const audit_roc *roc, double max_fpr)
{
    double tpr = 0.0;
    for (size_t i = 0; i < roc->points && roc->fpr[i] < max_fpr; i++)
        tpr = roc->tpr[i];
    return tpr;
}
