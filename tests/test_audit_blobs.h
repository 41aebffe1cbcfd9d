/* The small private trainings of the audit tests: two Gaussian blobs and a trainer for them. */
#ifndef DPKIT_TESTS_TEST_AUDIT_BLOBS_H
#define DPKIT_TESTS_TEST_AUDIT_BLOBS_H

#include "audit/audit.h"

/* n rows of dim features, labels alternating 0, 1, class c centred at +-1 (fixed seed); the
 * first `unused` features are 0 in every row. */
void test_audit_blobs(float *x, int32_t *y, size_t n, size_t dim, size_t unused);
/* Private full-batch DP-SGD of a linear model on n such rows: delta 1e-5, PLD accountant,
 * default optimizer and normalisation; the caller sets C, steps, sigma or epsilon, lr, seed. */
audit_trainer test_audit_trainer(size_t n, size_t dim);
/* The same for a crafted target (docs/maths.md 6f, 6g): no normalisation, plain SGD at lr,
 * C and sigma given, the RDP accountant (faster here) and noise keyed from the seed. */
audit_trainer test_audit_crafted_trainer(size_t n, size_t dim, double clip_norm, double sigma,
                                         double lr, uint64_t seed);

#endif
