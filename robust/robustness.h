/* The robustness experiment (what `dpkit robustness` runs, docs/robustness.md): trained models
 * attacked on a split of their dataset from the pixels, with PGD at several radii or C&W L2,
 * optionally certified by randomized smoothing; report.json, robustness.h5 with every
 * input's results, and the figures robust accuracy against the radius and against DP epsilon. */
#ifndef DPKIT_ROBUST_ROBUSTNESS_H
#define DPKIT_ROBUST_ROBUSTNESS_H

#include "common/config.h"
#include "robust/robust.h"

#define ROBUSTNESS_MAX_VALUES 64 /* radii of the attack or of the certificates */

/* kind: robustness, name, models (label, model, line), attack.*, cw.*, data.*, smoothing.*,
 * output.dir. */
extern const config_field robustness_schema[];

typedef struct robustness_model {
    char label[128], line[128], path[4096];
    char dataset[1024];
    double dp_epsilon, delta;  /* from the model's ledger; +inf for a non-private model */
    size_t count;              /* inputs attacked */
    int32_t *labels, *clean;   /* (count): label, prediction on the clean input */
    uint8_t *robust;           /* pgd: (radius, count) 1 when still right under attack */
    double *l2;                /* cw: (count) smallest L2 perturbation found (+inf: none) */
    double clean_accuracy;
    double robust_accuracy[ROBUSTNESS_MAX_VALUES];
    size_t certified_count;    /* smoothing: inputs certified */
    int32_t *smoothed;         /* (certified_count) smoothed class, -1: abstained */
    double *radius;            /* (certified_count) certified L2 radius */
    double certified_accuracy[ROBUSTNESS_MAX_VALUES];
    size_t certificate_checks;     /* certified inputs attacked within their radius */
    size_t certificate_violations; /* of them, the smoothed class changed (never, if sound) */
    double seconds;
} robustness_model;

typedef struct robustness {
    config *cfg;
    char name[128], dir[2048];
    int cw;                    /* attack.kind cw (else pgd) */
    dp_pgd_config pgd;         /* epsilon set per radius */
    robust_cw_config cw_config;
    double epsilons[ROBUSTNESS_MAX_VALUES];
    size_t epsilon_count;
    double figure_epsilon;
    robust_smoothing_config smoothing;
    size_t smoothing_count;
    int smoothing_attack;      /* smoothing.attack: attack every certificate */
    double radii[ROBUSTNESS_MAX_VALUES];
    size_t radius_count;
    char split[8];
    size_t count, batch;
    robustness_model *models;
    size_t model_count;
} robustness;

/* Loads and checks a robustness config with --set assignments; errors name where the value
 * came from and the key. Free with robustness_free, also after an error. */
int robustness_load(const char *path, const char *const *sets, size_t set_count,
                    robustness *r, dpkit_error *err);
void robustness_free(robustness *r);

/* Attacks (and certifies) every model, then writes report.json, robustness.h5 and the figures
 * into the output directory (robust/robustness_write.c). */
int robustness_run(robustness *r, dpkit_error *err);
int robustness_write(const robustness *r, dpkit_error *err);

#endif
