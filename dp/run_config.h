/* The training config shared by `dpkit features`, `train`, `eval` (and the audits and curves
 * built on training): its schema, and its translation into the library's option structs. */
#ifndef DPKIT_DP_RUN_CONFIG_H
#define DPKIT_DP_RUN_CONFIG_H

#include "common/config.h"
#include "dp/dp.h"
#include "features/features.h"

/* The whole training config: the keys below, then the privacy, training and output
 * fragments, which other configs (the audits, the curves) include where they take the same
 * keys (common/config.h, CONFIG_INCLUDE and CONFIG_DEFAULT):
 *   run_config_schema_privacy   privacy.enabled, epsilon, delta, noise_multiplier,
 *                               max_grad_norm, reproducible_noise, accountant, conversion
 *   run_config_schema_training  training.epochs, batch_size, physical_batch, optimizer.*
 *   run_config_schema_output    output.dir
 * Each key has its type, default, range and help there, once. */
extern const config_field run_config_schema[];
extern const config_field run_config_schema_privacy[];
extern const config_field run_config_schema_training[];
extern const config_field run_config_schema_output[];

typedef struct run_config {
    config *cfg;
    char name[128];
    long long seed;   /* >= 0: key of the public streams (init, splits, evaluation order) */
    int reproducible_noise; /* privacy.reproducible_noise: private streams keyed from the seed */
    char dataset[1024];
    features_extractor_config extractor;
    features_normalize_config normalize;
    char model_kind[16];
    dp_layer_spec *layers; /* model.layers (cnn, mlp); NULL for linear */
    size_t layer_count;
    int zero_init;         /* linear: start from zero weights */
    int mirror_average;    /* model.mirror_average: logits averaged with the mirror image's */
    double target_epsilon; /* privacy.epsilon (0: none) */
    dp_train_config train;        /* train.adversarial points at `adversarial` when set */
    dp_pgd_config adversarial;    /* training.adversarial.* */
    dp_optimizer_config optimizer;
    features_augment_config augment; /* training.augment_* */
    char output_dir[2048];
} run_config;

/* Loads CONFIG with --set assignments and checks every value; errors name the key. */
int run_config_load(const char *path, const char *const *assignments, size_t assignment_count,
                    run_config *out, dpkit_error *err);
/* From the resolved YAML text stored in a model file. */
int run_config_from_text(const char *text, const char *source, run_config *out, dpkit_error *err);
void run_config_free(run_config *rc);

/* What a config file is for, judged from its top-level keys alone (dp/run_config_kind.c): a
 * `kind:` of membership, one-run, multi-run or canaries is an audit config (dpkit audit), of
 * robustness a robustness config (dpkit robustness); a
 * `runs` list without a kind, a curve config (dpkit curve); data.dataset without a kind, a
 * training config (dpkit train, features, eval). */
typedef enum {
    RUN_CONFIG_KIND_UNKNOWN,
    RUN_CONFIG_KIND_TRAINING,
    RUN_CONFIG_KIND_AUDIT,
    RUN_CONFIG_KIND_CURVE,
    RUN_CONFIG_KIND_ROBUSTNESS
} run_config_kind;

/* The kind of a parsed config tree (NULL: unknown); `why` receives the keys that tell, e.g.
 * "it has data.dataset and no kind". */
run_config_kind run_config_classify(const config_node *root, char *why, size_t size);
/* Called after loading PATH as a config of kind `expected` failed (only then, so valid configs
 * never pay for it): when PATH is another kind of config, err says so and names the command
 * that runs it ("PATH looks like a training config (it has data.dataset and no kind); run it
 * with `dpkit train` (the original message)"). Returns -1. */
int run_config_explain_kind(const char *path, run_config_kind expected, dpkit_error *err);

/* Refuses input noise on images the extractor standardises (inputs not in [0, 1]). */
int run_check_adversarial(const run_config *rc, size_t channels, dpkit_error *err);
/* 1 when adversarial training must run its PGD on the images through the features
 * (dp_adversarial_features_create): the model does not read the pixels in [0, 1] themselves. */
int run_adversarial_on_images(const run_config *rc, size_t channels);

/* The model's layers for a given input shape and class count (linear: one dense layer). */
int run_config_model(const run_config *rc, dp_shape input, size_t class_count, dp_model *model,
                     dpkit_error *err);

/* Loads the dataset and the train/test features (cached), flattened for the model. */
typedef struct run_features {
    dataset data;
    features_set train, test;
    features_cache_info train_info, test_info;
    /* Data-parallel (docs/mpi.md): train holds the examples train_first.. of train_total; one
     * process holds them all (0, train.count). */
    size_t train_first, train_total;
} run_features;

/* The config's dataset, fetched first when it is one of the real sources. */
int run_dataset_load(const run_config *rc, dataset *out, dpkit_error *err);
/* Under mpirun each rank of a training loads its shard of the training rows, at most
 * $DPKIT_RANK_MEMORY_MB MiB of them when that is set (docs/mpi.md); the test split whole. */
int run_features_load(const run_config *rc, int force, run_features *out, dpkit_error *err);
void run_features_free(run_features *rf);
/* Augmentation multiplicity (dp/run_augment.c, docs/maths.md 4.17): the features of copies
 * 1..K-1 of the training rows of rf (features_augment_split with the config's seed) into
 * copies[0..K-2], each from the feature cache under a key of its own (the copy's settings in
 * the dataset name, its images in the checksum) and normalised by `normalizer`, the one
 * fitted on the original features (a private-bn release is not repeated). One process only. */
int run_augment_features(const run_config *rc, const run_features *rf,
                         const features_normalizer *normalizer, int force, features_set *copies,
                         dpkit_error *err);
/* model.mirror_average (docs/maths.md 4.18): the features of the left-right mirror images of
 * the split ("train" or "test") whose features `original` holds, from the cache, normalised by
 * `normalizer`, row for row with `original`. One process only. */
int run_mirror_features(const run_config *rc, const dataset *data, const char *split,
                        const features_set *original, const features_normalizer *normalizer,
                        int force, features_set *out, dpkit_error *err);

/* Seeds an RNG for a public stream (initialisation, canaries, splits, audit choices) from the
 * run's seed. The private streams (rng_stream_is_private) take run_private_key instead. */
void run_rng(const run_config *rc, uint64_t stream, rng *r);
/* The key of the private streams: fresh from the OS, or from the seed when the config sets
 * privacy.reproducible_noise (then also warns on stderr that the noise is public). */
void run_private_key(const run_config *rc, uint8_t key[RNG_KEY_BYTES]);
/* The warning a reproducible-noise run prints at its start and end (stderr); nothing otherwise. */
void run_warn_reproducible_noise(int reproducible_noise, long long seed);

/* ---------------------------------------------------------------------------------------------
 * Evaluation of a trained model (dp/run_eval.c, dp/run_eval_write.c): what `dpkit eval` and
 * dpkit_model_evaluate run.
 * ------------------------------------------------------------------------------------------ */

typedef struct run_eval_result {
    char dataset[1024];         /* the dataset evaluated: the model's unless another was named */
    char split[8];              /* "test" or "train" */
    size_t count, class_count;
    double accuracy, mean_loss; /* argmax accuracy, mean cross-entropy (natural log) */
    int reproducible_noise;     /* as recorded in the model's config */
    int mirror_average;         /* logits averaged with the mirror images' (4.18) */
    char *noise_key;            /* the model file's noise_key attribute; NULL in older files */
    /* Per-example outputs in the split's order, NULL unless asked for. */
    int32_t *labels, *predictions; /* (count); a prediction is the first largest logit */
    float *losses;                 /* (count) cross-entropy */
    float *logits;                 /* (count, class_count) */
} run_eval_result;

/* Evaluates a model on the split "test" or "train" of dataset_name (NULL: the config's dataset)
 * through the config's feature extractor (features from the cache) and the model's normaliser,
 * with model.mirror_average the mean of the logits at the images and at their mirrors;
 * per_example also keeps the per-example outputs. On failure *out holds nothing to free. */
int run_eval_model(const run_config *rc, const dp_model *model,
                   const features_normalizer *normalizer, const char *dataset_name,
                   const char *split, int per_example, run_eval_result *out, dpkit_error *err);
/* The config, model and normaliser of an open model.h5 (what every reader of a model file
 * needs; the ledger and image shape are left to those that need them). */
int run_model_read(h5io_file *f, run_config *rc, dp_model *model,
                   features_normalizer *normalizer, dpkit_error *err);
/* run_eval_model for a model.h5 file (run_model_read), with its noise key; mirror_average
 * averages over the mirror images whatever the model's config says. */
int run_eval_file(const char *model_path, const char *dataset_name, const char *split,
                  int per_example, int mirror_average, run_eval_result *out, dpkit_error *err);
void run_eval_free(run_eval_result *r);

/* Refuses an output path that is the model file or the file of an hdf5:PATH dataset (NULL:
 * not checked), however named: writing it would replace them. */
int run_eval_check_output(const char *output, const char *model_path, const char *dataset_name,
                          dpkit_error *err);
/* Writes a result's per-example outputs to output (HDF5, docs/formats.md), atomically, after
 * run_eval_check_output; model_path is recorded in it. */
int run_eval_write(const run_eval_result *r, const char *model_path, const char *output,
                   dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * The training driver (dp/run.c): what `dpkit train` and dpkit_train run.
 * ------------------------------------------------------------------------------------------ */

typedef struct run_options {
    const char *config_path;
    const char *const *sets; /* key=value overrides */
    size_t set_count;
    const char *output_dir;  /* NULL: the config's output.dir */
    int resume;              /* continue from the run directory's checkpoint.h5 */
    int overwrite;           /* replace a run the directory holds (else refused) */
    int force_features;      /* recompute the features even if cached */
    int max_epochs;          /* > 0: stop after that many epochs in this call */
} run_options;

typedef struct run_result {
    int finished; /* model.h5 written; 0 when max_epochs stopped the run first */
    char name[128];
    char model_path[4096];
    int private_mode;
    double epsilon, delta, noise_multiplier;
    accountant_kind accountant;
    double test_accuracy;
    long long steps;
    int epoch;
    int reproducible_noise;
    long long seed;
} run_result;

/* Loads the config, trains (or resumes) and writes the run directory. A reproducible-noise run
 * is announced at its start; on success the caller announces it again after its own output
 * (run_warn_reproducible_noise with the result's fields), on failure run_train does. */
int run_train(const run_options *options, run_result *result, dpkit_error *err);

#endif
