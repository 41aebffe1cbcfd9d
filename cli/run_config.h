/* The training config shared by `dpkit features`, `train`, `eval` (and the audits and curves
 * built on training): its schema, and its translation into the library's option structs. */
#ifndef DPKIT_CLI_RUN_CONFIG_H
#define DPKIT_CLI_RUN_CONFIG_H

#include "common/config.h"
#include "dp/dp.h"
#include "features/features.h"

extern const config_field run_config_schema[];

typedef struct run_config {
    config *cfg;
    char name[128];
    long long seed;   /* < 0: keys from the OS (not reproducible) */
    char dataset[1024];
    features_extractor_config extractor;
    features_normalize_config normalize;
    char model_kind[16];
    dp_layer_spec *layers; /* model.layers (cnn, mlp); NULL for linear */
    size_t layer_count;
    int zero_init;         /* linear: start from zero weights */
    double target_epsilon; /* privacy.epsilon (0: none) */
    dp_train_config train;
    dp_optimizer_config optimizer;
    char output_dir[2048];
} run_config;

/* Loads CONFIG with --set assignments and checks every value; errors name the key. */
int run_config_load(const char *path, const char *const *assignments, size_t assignment_count,
                    run_config *out, dpkit_error *err);
/* From the resolved YAML text stored in a model file. */
int run_config_from_text(const char *text, const char *source, run_config *out, dpkit_error *err);
void run_config_free(run_config *rc);

/* The model's layers for a given input shape and class count (linear: one dense layer). */
int run_config_model(const run_config *rc, dp_shape input, size_t class_count, dp_model *model,
                     dpkit_error *err);

/* Loads the dataset and the train/test features (cached), flattened for the model. */
typedef struct run_features {
    dataset data;
    features_set train, test;
    features_cache_info train_info, test_info;
} run_features;

/* The config's dataset, fetched first when it is one of the real sources. */
int run_dataset_load(const run_config *rc, dataset *out, dpkit_error *err);
int run_features_load(const run_config *rc, int force, run_features *out, dpkit_error *err);
void run_features_free(run_features *rf);

/* Seeds an RNG for a stream: from the run's seed, or from the OS when seed < 0. */
void run_rng(const run_config *rc, uint64_t stream, rng *r);



#endif
