/* Privacy audits of trained models. The statistics live in audit/audit_stats.h (included here);
 * this header has the parts that touch a model or a file: secret extraction by shortest-path
 * search, plots, the character language model, canaries, training-data extraction and the
 * Secret Sharer experiment, and the audits of DP-SGD classifiers that train their own models
 * with the dp/ engine (membership inference with shadow models, one-run and multi-run epsilon
 * lower bounds) with their reports. Maths: docs/maths.md sections 5 and 6; docs/audit.md says
 * what each function returns. */
#ifndef DPKIT_AUDIT_AUDIT_H
#define DPKIT_AUDIT_AUDIT_H

#include "audit/audit_stats.h"
#include "common/error.h"
#include "common/rng.h"
#include "dp/dp.h"
#include "dp/run_config.h"
#include "features/features.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * Extraction (docs/maths.md 5): best-first (Dijkstra) search over the prefix tree with edge cost
 * -log2 Pr(symbol | prefix); complete secrets come out in order of increasing log-perplexity.
 * ------------------------------------------------------------------------------------------ */

typedef struct audit_extraction_options {
    size_t k;            /* complete candidates wanted (>= 1) */
    size_t batch;        /* prefixes evaluated per model call (0 = 1) */
    size_t max_nodes;    /* stop before storing more tree nodes (0 = 1 << 22; 28 bytes each) */
} audit_extraction_options;

typedef struct audit_extraction_result {
    size_t found;        /* candidates written (< k if the space or max_nodes ran out) */
    size_t true_rank;    /* 1-based position of true_secret among them, 0 if absent */
    int truncated;       /* 1 if max_nodes stopped the search */
    audit_search_stats stats;
} audit_extraction_result;

/* Writes the k most likely secrets to candidates (k x length) and their log-perplexities in bits
 * to log_perplexity (k), best first. true_secret may be NULL. Candidates of probability 0 are
 * never returned. */
int audit_extract(const audit_secret_space *space, const audit_extraction_options *options,
                  const int32_t *true_secret, int32_t *candidates, double *log_perplexity,
                  audit_extraction_result *result, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Figures (common/plot.h: gnuplot, Debian package gnuplot-nox). NAME.png with NAME.pdf and
 * NAME.svg beside it, and the script NAME.gp with its data NAME.data*.tsv that draw them again.
 * ------------------------------------------------------------------------------------------ */

/* Log-log ROC curves (FPR and TPR from 1e-5 to 1) with the chance diagonal; labels[i] names
 * curve i in the legend (NULL = unnamed). */
int audit_plot_roc(const char *png_path, const audit_roc *curves, const char *const *labels,
                   size_t curve_count, const char *title, dpkit_error *err);

/* Exposure against insertion count for the canaries of several models. */
typedef struct audit_exposure_plot {
    const double *epsilons;   /* of each model; INFINITY = no DP */
    size_t model_count;
    const double *insertions; /* of each canary (0: never inserted) */
    size_t canary_count;
    const double *exposure;   /* model_count x canary_count, row e for epsilons[e]; NaN: none */
    double ceiling;           /* log2 |R|, the most exposure can be; NaN: not drawn */
} audit_exposure_plot;

/* Every canary as a point, one line per model through the mean exposure of the canaries of
 * each insertion count, and the ceiling as a horizontal line. */
int audit_plot_exposure(const char *png_path, const audit_exposure_plot *plot, const char *title,
                        dpkit_error *err);

/* Histograms of audit scores in two groups, with vertical lines at the cut-offs. */
typedef struct audit_score_plot {
    const double *scores;
    const uint8_t *truth;     /* 1: the group label_in, 0: label_out */
    size_t count;
    const char *label_in, *label_out;
    const double *cutoffs;    /* scores where a guess changes */
    const char *const *cutoff_labels;
    size_t cutoff_count;
    const char *xlabel;
} audit_score_plot;

int audit_plot_scores(const char *png_path, const audit_score_plot *plot, const char *title,
                      dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Character language model for canary audits (audit/char_lm.c): the next character from the
 * one-hot encoding of the k previous ones, linear -> tanh -> linear, trained by DP-SGD (dp/).
 * An example is one window (k context characters, the next one as label).
 * ------------------------------------------------------------------------------------------ */

typedef struct audit_char_lm {
    size_t context;     /* k characters of context */
    size_t vocabulary;  /* V symbols; input size k * V */
    size_t hidden;
    dp_model model;
    dp_workspace ws;    /* training passes of up to ws.max_batch windows; also the batch size
                           of the secret-space callback */
} audit_char_lm;

/* Builds the model (parameters zero: dp_model_init them) and a workspace for max_batch rows. */
int audit_char_lm_create(size_t context, size_t vocabulary, size_t hidden, size_t max_batch,
                         audit_char_lm *lm, dpkit_error *err);
void audit_char_lm_free(audit_char_lm *lm);

/* One-hot encoding of k ids (each < V) into k * V floats. */
void audit_char_lm_encode(size_t context, size_t vocabulary, const int32_t *ids, float *out);

/* Training windows over a token sequence: window i has context ids[i .. i+k) and label
 * ids[i+k], for i < count - k. The returned dp_data points into ids and builds the one-hot rows
 * on demand; `windows` must outlive it. */
typedef struct audit_char_windows {
    const int32_t *ids;
    size_t count;
    size_t context, vocabulary;
} audit_char_windows;
dp_data audit_char_windows_data(const audit_char_windows *windows);

/* Natural-log next-character probabilities (n x V) for n contexts (n x k ids). Computed in
 * double from the float32 parameters (the one-hot first layer as a sum of k weight columns), in
 * a fixed order per row: a row's values do not depend on the other rows. */
int audit_char_lm_log_probs(audit_char_lm *lm, const int32_t *contexts, size_t n,
                            double *log_prob, dpkit_error *err);

/* Mean cross-entropy in bits per character and next-character accuracy over the windows of a
 * token sequence (count > k). */
int audit_char_lm_evaluate(audit_char_lm *lm, const int32_t *ids, size_t count,
                           double *bits_per_char, double *accuracy, dpkit_error *err);

/* A secret space seen through the model: the secret's symbols are alphabet_ids[s] (vocabulary
 * ids), preceded by the fixed prefix (prefix_count ids, >= k so every context is known). The
 * log-probabilities are the model's own (not renormalised over the alphabet), so that
 * log-perplexities are those of docs/maths.md 5. The struct must outlive the space. */
typedef struct audit_char_lm_space {
    audit_char_lm *lm;
    const int32_t *prefix;
    size_t prefix_count;
    const int32_t *alphabet_ids;
    size_t alphabet_size;
    size_t length;
    int32_t *contexts;   /* internal: lm->ws.max_batch x k */
    double *log_prob;    /* internal: lm->ws.max_batch x V */
} audit_char_lm_space;

int audit_char_lm_space_init(audit_char_lm_space *cs, audit_char_lm *lm, const int32_t *prefix,
                             size_t prefix_count, const int32_t *alphabet_ids,
                             size_t alphabet_size, size_t length, audit_secret_space *space,
                             dpkit_error *err);
void audit_char_lm_space_free(audit_char_lm_space *cs);
/* Log-perplexities in bits of n secrets (n x length alphabet indices) in batches of the
 * workspace size; equal to audit_secret_log_perplexity of each (same order of operations). */
int audit_char_lm_space_log_perplexities(audit_char_lm_space *cs, const int32_t *secrets,
                                         size_t n, double *out, dpkit_error *err);

/* Samples n continuations of `length` characters after n prompts (n x k ids): temperature T > 0
 * divides the logits, top_k > 0 keeps only the k most likely characters (0: all). out is
 * n x length; log_perplexity[i] (may be NULL) is sum -log2 Pr(x_t | context) under the
 * untempered model, in bits. One uniform from r (stream RNG_STREAM_SAMPLER) per character, sample
 * after sample. */
int audit_char_lm_sample(audit_char_lm *lm, const int32_t *prompts, size_t n, size_t length,
                         double temperature, size_t top_k, rng *r, int32_t *out,
                         double *log_perplexity, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Canaries (audit/canaries.c): "<prefix with {id}><secret>" lines, the secret drawn uniformly
 * from alphabet^length, each inserted `insertions` times at random line starts of a text.
 * ------------------------------------------------------------------------------------------ */

#define AUDIT_CANARY_MAX_LENGTH 32
#define AUDIT_CANARY_MAX_TEXT 256

typedef struct audit_canary {
    size_t insertions;
    char prefix[AUDIT_CANARY_MAX_TEXT];   /* template with {id} replaced */
    char secret[AUDIT_CANARY_MAX_LENGTH + 1];
    int32_t symbols[AUDIT_CANARY_MAX_LENGTH]; /* secret as indices into the alphabet */
} audit_canary;

/* One canary per entry of insertions[count]: canary j's prefix is `template` with "{id}"
 * replaced by the j-th uppercase letter (or kept as is without "{id}"), its secret `length`
 * characters drawn with rng_below from `alphabet` (distinct ASCII characters). */
int audit_canaries_generate(const char *template_text, const char *alphabet, size_t length,
                            const size_t *insertions, size_t count, rng *r, audit_canary *out,
                            dpkit_error *err);

/* Copies text (n bytes) into *out (malloc'd, NUL-terminated) with every canary line
 * "<prefix><secret>\n" inserted insertions times, each at a line start drawn uniformly from r
 * among the line starts of the original text (ties kept in canary order). positions (may be
 * NULL) receives the byte offset in *out of each inserted line, canary by canary (sum of
 * insertions entries). */
int audit_canaries_insert(const uint8_t *text, size_t n, const audit_canary *canaries,
                          size_t count, rng *r, uint8_t **out, size_t *out_count,
                          size_t *positions, dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Training-data extraction (Carlini et al. 2021; audit/data_extraction.c).
 * ------------------------------------------------------------------------------------------ */

/* Every substring of `length` ids of a token sequence, hashed, with its number of occurrences;
 * lookups compare the ids, so a hit is always a verbatim occurrence. */
typedef struct audit_ngram_index {
    const int32_t *ids;
    size_t count;
    size_t length;
    size_t slots;          /* power of two */
    uint64_t *table;       /* first start position + 1 per slot, 0 = empty */
    uint32_t *occurrences; /* start positions of the slot's gram in the text */
} audit_ngram_index;

int audit_ngram_index_build(const int32_t *ids, size_t count, size_t length,
                            audit_ngram_index *index, dpkit_error *err);
void audit_ngram_index_free(audit_ngram_index *index);
/* Position of the first occurrence in the indexed text of seq[0 .. length), or -1. */
long long audit_ngram_index_find(const audit_ngram_index *index, const int32_t *seq);
/* Occurrences of seq[0 .. length) in the indexed text (0 if absent). */
size_t audit_ngram_index_count(const audit_ngram_index *index, const int32_t *seq);
/* Number of start positions p in seq (count ids) whose length-gram occurs verbatim in the
 * indexed text; *first (may be NULL) gets the first such p (or -1), *rarest (may be NULL) the
 * fewest occurrences of any of these grams (0 if none): Carlini et al.'s k-eidetic
 * memorisation holds for k = *rarest. */
size_t audit_ngram_index_matches(const audit_ngram_index *index, const int32_t *seq,
                                 size_t count, long long *first, size_t *rarest);

/* Bytes of the zlib compression (level 9) of the data: the sample's "zlib entropy". */
int audit_zlib_bytes(const uint8_t *data, size_t n, size_t *compressed, dpkit_error *err);

/* Indices of the n scores in ascending order (ties by index); order has n entries. */
void audit_rank_ascending(const double *scores, size_t n, size_t *order);
/* Fraction of the k lowest-scored items (k > n counts n) that are hits; -1 when out of memory. */
double audit_precision_at_k(const double *scores, const uint8_t *hits, size_t n, size_t k);

/* ------------------------------------------------------------------------------------------
 * The Secret Sharer experiment (audit/canary_experiment.c, audit/canary_report.c; docs/audit.md):
 * canaries "<template><secret>" inserted into a slice of a text corpus, character language
 * models trained with and without DP-SGD on it, and for each model every canary's exposure
 * (exact rank by enumeration, interpolated, extrapolated) and extraction by the best-first
 * search, then Carlini-style sampling of held-out prompts for verbatim training text.
 * ------------------------------------------------------------------------------------------ */

#define AUDIT_CANARY_EXPERIMENT_MAX_CANARIES 26
#define AUDIT_CANARY_EXPERIMENT_MAX_RUNS 8

/* One model of the experiment. */
typedef struct audit_canary_experiment_run {
    const char *label;   /* name in the report (e.g. no-dp, eps8), not empty */
    int private_mode;    /* 0: plain SGD (no clipping, no noise) */
    double epsilon;      /* > 0: sigma calibrated to it (and training stops at it) */
    double sigma;        /* noise multiplier when epsilon is 0 */
    double lr;           /* learning rate (> 0) */
    size_t epochs;       /* >= 1 */
} audit_canary_experiment_run;

/* Checked by the caller (the command names each config key in its messages). */
typedef struct audit_canary_experiment_settings {
    const char *name;             /* of the experiment, for the report */
    const char *corpus;           /* "sotu" (fetched when missing), a directory of *.txt or a file */
    long long seed;               /* >= 0: canaries, init, references, prompts, text sampling */
    int reproducible_noise;       /* 1: batches and DP noise keyed from the seed too */
    size_t offset, bytes, holdout_bytes; /* training slice and the held-out bytes after it */
    size_t context, hidden;       /* model: k characters of context, tanh units */
    const char *template_text, *alphabet;
    size_t length;                /* characters of each secret */
    size_t repeats;               /* canaries per distinct insertion count (consecutive) */
    size_t canary_count;
    size_t insertions[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    double delta, clip;
    accountant_options accountant;
    size_t batch_size, physical_batch;
    dp_optimizer_config optimizer; /* lr of each run replaces optimizer.lr */
    size_t run_count;
    audit_canary_experiment_run runs[AUDIT_CANARY_EXPERIMENT_MAX_RUNS];
    size_t references;            /* random secrets scored for interpolation/extrapolation (>= 3) */
    size_t enumerate_max;         /* exact rank by enumeration when |R| is at most this */
    size_t extraction_k, extraction_batch, max_nodes; /* the best-first search */
    size_t samples, sample_length, top_k; /* continuations sampled per model */
    double temperature;
    size_t min_match;             /* L: a sample holding a verbatim training L-gram is memorised */
    size_t max_occurrences;       /* ... and rare when that gram occurs at most this often */
    size_t top;                   /* k of precision at k */
    const char *output_dir;       /* canaries.json is written here once drawn; NULL: not written */
} audit_canary_experiment_settings;

/* The experiment's config keys (kind: canaries; docs/audit.md), bounds included. */
extern const config_field audit_canary_experiment_schema[];
/* The settings of a config validated against that schema (strings point into it); the run
 * directory (output.dir, or runs/<name>) is written to output_dir. 0, or -1 with err naming
 * the key. */
int audit_canary_experiment_settings_read(const config *c, audit_canary_experiment_settings *s,
                                          char *output_dir, size_t output_size,
                                          dpkit_error *err);

/* One canary under one model. */
typedef struct audit_canary_outcome {
    double log_perplexity;        /* bits */
    uint64_t rank;                /* exact, 0 when not enumerated */
    double exposure_exact;        /* NaN when not enumerated */
    double exposure_interpolated, exposure_extrapolated;
    audit_search_stats enumeration;
    audit_extraction_result extraction;
    int32_t *candidates;          /* extraction_k x length alphabet indices */
    double *candidate_bits;
} audit_canary_outcome;

/* One sampled continuation. */
typedef struct audit_canary_sample {
    double bits_per_char;
    size_t zlib_bytes;
    double zlib_score;            /* bits per char / zlib bytes: low = suspicious */
    size_t matches;               /* start positions of a verbatim training L-gram */
    long long first_match;
    size_t rarest;                /* fewest training occurrences of a matching gram */
} audit_canary_sample;

typedef struct audit_canary_model {
    double epsilon;               /* INFINITY without DP */
    double sigma;                 /* 0 without DP */
    long long steps;
    double train_seconds, audit_seconds;
    double train_loss_bits, holdout_bits, holdout_accuracy; /* after the last epoch */
    audit_canary_outcome canaries[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    audit_skewnorm fit[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    int32_t *samples;             /* samples x sample_length token ids */
    audit_canary_sample *sample_stats;
    size_t hits, rare_hits;
    double hit_rate, precision_perplexity, precision_zlib;
    double rare_rate, rare_precision_perplexity, rare_precision_zlib;
} audit_canary_model;

typedef struct audit_canary_experiment_result {
    dataset_tokens tokens;        /* document 0: training text with canaries; 1: holdout */
    audit_canary canaries[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    size_t *positions;            /* byte offset of every inserted copy, canary by canary */
    size_t train_bytes;           /* with canaries */
    double log2_space;            /* log2 |R| */
    int enumerated;               /* exact ranks computed */
    audit_canary_model models[AUDIT_CANARY_EXPERIMENT_MAX_RUNS];
    double seconds;
} audit_canary_experiment_result;

/* Runs the whole experiment (settings->run_count models, one after the other); *out is zeroed
 * first and must be freed with audit_canary_experiment_result_free, also after a failure. */
int audit_canary_experiment(const audit_canary_experiment_settings *settings,
                            audit_canary_experiment_result *out, dpkit_error *err);
void audit_canary_experiment_result_free(audit_canary_experiment_result *result);

/* The exposure a canary is reported with: exact when enumerated, else interpolated. */
double audit_canary_experiment_exposure(const audit_canary_experiment_result *result,
                                        const audit_canary_outcome *canary);

/* Files of the experiment, written atomically: canaries.json (the canaries and the byte offset
 * of every inserted copy), report.json (everything above), the exposure figure (every
 * canary's exposure against its insertion count, a line per model through the means of each
 * count, the log2 |R| ceiling; nothing to plot without an inserted canary). */
int audit_canary_experiment_write_canaries(const audit_canary_experiment_settings *settings,
                                           const audit_canary_experiment_result *result,
                                           const char *path, dpkit_error *err);
int audit_canary_experiment_write_report(const audit_canary_experiment_settings *settings,
                                         const audit_canary_experiment_result *result,
                                         const char *path, dpkit_error *err);
int audit_canary_experiment_plot(const audit_canary_experiment_settings *settings,
                                 const audit_canary_experiment_result *result, const char *path,
                                 dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * Audits of DP-SGD classifiers (audit/trainer.c, membership.c, canary_audit.c): the models are
 * trained here by the dp/ engine exactly as `dpkit train` trains them (normaliser fitted on the
 * model's own training rows, sigma calibrated to the target epsilon for that training set).
 * Features are the raw (unnormalised) feature rows of the training split.
 * ------------------------------------------------------------------------------------------ */

/* Deliberate faults, only for checking that the audits catch a broken training. */
typedef enum {
    AUDIT_FAULT_NONE,
    AUDIT_FAULT_NO_NOISE,    /* DP-SGD runs without noise; the accountant is told the calibrated sigma */
    AUDIT_FAULT_HALF_NOISE,  /* noise sigma/2 (same claim) */
    AUDIT_FAULT_NOISE_WITHOUT_C, /* noise std sigma instead of sigma C (same claim) */
    AUDIT_FAULT_NO_CLIPPING, /* per-example gradients not clipped (same claim) */
    AUDIT_FAULT_SHUFFLED     /* fixed-size batches of a shuffle, accounted as Poisson sampling */
} audit_fault;

/* The fault named by inject_fault (none, no-noise, half-noise, noise-without-c, no-clipping,
 * shuffled-batches); -1 for another name. */
int audit_fault_parse(const char *name, audit_fault *fault);

/* How one model is trained (the base training config). */
typedef struct audit_trainer {
    dp_shape input;                /* feature shape (C, H, W) */
    size_t class_count;
    const dp_layer_spec *layers;   /* NULL: linear model (one dense layer) */
    size_t layer_count;
    int zero_init;                 /* last linear layer starts at zero */
    features_normalize_config normalize;
    dp_train_config train;         /* noise_multiplier 0: calibrated to train.target_epsilon */
    dp_optimizer_config optimizer;
    uint64_t seed;                 /* key of the public streams (init, audit choices) */
    int reproducible_noise;        /* 1: sampling/noise/normalisation streams from the seed too;
                                    * 0: a fresh OS key per model and stream (secret) */
    audit_fault fault;
    const float *initial_params;   /* NULL: the model's usual initialisation */
} audit_trainer;

/* The trainer of a base training config and its loaded features: the model, normalisation,
 * DP-SGD settings, optimizer and keys of `dpkit train`. A batch size above the training
 * examples is refused. */
int audit_trainer_from_run(const run_config *rc, const run_features *rf, audit_fault fault,
                           audit_trainer *out, dpkit_error *err);

/* A model trained by audit_train_model. */
typedef struct audit_trained {
    dp_model model;
    features_normalizer normalizer;
    float *initial_params;     /* parameters before the first step (param_count) */
    double noise_multiplier;   /* sigma the accountant was told */
    double epsilon;            /* the accountant's epsilon at train.delta (INFINITY: no DP) */
    long long steps;
    double seconds;
} audit_trained;

/* Trains model number `model_index` (its own sampling, noise and init streams) on the rows x
 * (count x input size, normalised IN PLACE by the fitted normaliser) with labels y. canaries
 * (may be NULL): white-box gradient canaries passed to the engine. */
int audit_train_model(const audit_trainer *trainer, float *x, const int32_t *y, size_t count,
                      const dp_gradient_canaries *canaries, uint64_t model_index,
                      audit_trained *out, dpkit_error *err);
void audit_trained_free(audit_trained *trained);
/* Logits (count x classes) of raw feature rows under the trained model and its normaliser. */
int audit_trained_logits(const audit_trained *trained, const float *x, size_t count,
                         float *logits, dpkit_error *err);
/* Test accuracy of raw feature rows (normalised on the fly). */
int audit_trained_accuracy(const audit_trained *trained, const float *x, const int32_t *y,
                           size_t count, double *accuracy, dpkit_error *err);
/* One attack's quality on the target model's examples. */
typedef struct audit_attack_metrics {
    double auc;
    double tpr_at_fpr_0_1; /* TPR at FPR < 0.1% */
    double tpr_at_fpr_1;   /* TPR at FPR < 1% */
    double balanced_accuracy;
    audit_roc roc;
} audit_attack_metrics;

typedef struct audit_membership_options {
    size_t shadows;      /* shadow models (>= 2), each on a random half */
    int global_variance; /* one std for all examples (few shadows) */
    double confidence;   /* of epsilon_lb */
} audit_membership_options;

typedef struct audit_membership_result {
    audit_attack_metrics loss;    /* loss threshold: score -cross-entropy */
    audit_attack_metrics offline; /* LiRA, OUT shadows only (one-sided, as the paper) */
    audit_attack_metrics online;  /* LiRA, IN and OUT shadows */
    size_t examples, members;
    double epsilon;               /* the target model's accountant epsilon */
    double noise_multiplier;
    long long steps;
    double test_accuracy;         /* target model */
    double train_seconds;         /* all models */
    /* The target's random half is a one-run experiment with every training example as a
     * canary: the bound of audit_one_run_bound_compute on the online LiRA statistic. */
    audit_one_run_bound bound;
    double epsilon_lb;
    /* Per training example (examples), the signals behind the metrics above: */
    uint8_t *member;              /* 1: in the target's training half */
    double *score_loss, *score_offline, *score_online; /* larger = more likely a member */
} audit_membership_result;

/* Trains `shadows` shadow models on the halves of a LiRA keep matrix and one target model on an
 * independent random half (every example with probability 1/2), scores every training example
 * with logit-scaled confidence and reports the three attacks against the target's membership.
 * test (may have count 0) only gives the target's accuracy. */
int audit_membership(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                     const audit_membership_options *options, audit_membership_result *result,
                     dpkit_error *err);
/* The signals of a membership audit as an HDF5 file, written atomically (docs/formats.md,
 * format dpkit-membership-signals-1): per example the membership and the three attacks' scores,
 * and each attack's ROC points. */
int audit_membership_write_signals(const audit_membership_result *result, const char *path,
                                   dpkit_error *err);
void audit_membership_result_free(audit_membership_result *result);

typedef enum {
    AUDIT_CANARY_GRADIENT, /* white-box: Dirac gradient of norm C, score = update along it */
    AUDIT_CANARY_INPUT,    /* black-box: mislabelled training example, score = -loss */
    AUDIT_CANARY_DIRAC,    /* white-box: C on a coordinate of its own, observed at every step */
    AUDIT_CANARY_CRAFTED   /* black-box, multi-run: a crafted target from worst-case initial
                            * parameters (audit_crafted_target), score = -loss of the last iterate */
} audit_canary_kind;

/* The canary kind's config name: gradient, input, dirac or crafted. */
const char *audit_canary_kind_name(audit_canary_kind kind);

/* Where gradient canaries go: m random parameters, or the m that moved least in a pilot
 * training of the same config without noise and canaries (one extra training; the pilot never
 * sees the inclusion bits, so the bounds stay valid, and the data's drift hides the canaries
 * less). */
typedef enum { AUDIT_CANARY_PILOT, AUDIT_CANARY_RANDOM } audit_canary_placement;

typedef struct audit_canary_options {
    audit_canary_kind canary;
    audit_canary_placement placement; /* gradient canaries */
    size_t canaries;       /* one-run: m canaries */
    size_t runs;           /* multi-run: runs with and runs without the canary (each) */
    double confidence;     /* e.g. 0.95 */
    int fdp_bound;         /* one-run with Dirac canaries: eps_lb from the f-DP bound (6e) */
    size_t examples;       /* crafted target: training examples kept (the first ones; 0: all) */
    int mirror;            /* crafted target: train on `examples` copies of the target under
                            * another label instead (docs/maths.md 6g) */
} audit_canary_options;

typedef struct audit_canary_result {
    double epsilon_lb;       /* at the confidence */
    double epsilon;          /* the accountant's epsilon of the audited training */
    double delta;
    double noise_multiplier;
    long long steps;
    double test_accuracy;    /* one-run: the trained model; multi-run: mean over runs */
    double auc;              /* ROC AUC of the scores against inclusion (diagnostic) */
    double train_seconds;
    /* one-run */
    audit_one_run_bound bound;
    size_t included;         /* canaries included */
    /* multi-run: threshold chosen on the first half of the runs, counts on the second half */
    double threshold;
    uint64_t false_positives, false_negatives, evaluated_without, evaluated_with;
    /* The signals (freed by audit_canary_result_free). One-run: signal_count = m canaries,
     * their scores and inclusion. Multi-run: signal_count = 2 runs, the scores of the runs with
     * the canary (truth 1) then of those without (truth 0); the first half of each side chose
     * the threshold. */
    size_t signal_count;
    double *signal_score;
    uint8_t *signal_truth;
    /* Dirac canaries (docs/maths.md 6d); their signals are per canary (all runs): the summed
     * observation over every iterate and the inclusion. */
    double sampling_rate;          /* q of the audited training */
    double mu_claimed;             /* mu of the accountant's epsilon at delta */
    audit_gdp_estimate_result gdp; /* from the summed observations */
    audit_one_run_bound ideal;     /* one-run: the ideal attacker's bound, m canaries, mu_claimed */
    audit_one_run_fdp_bound fdp, fdp_ideal; /* one-run: the f-DP bound (6e) and its ideal */
    double epsilon_lb_counts;      /* multi-run: Clopper-Pearson bound over the canaries */
} audit_canary_result;

void audit_canary_result_free(audit_canary_result *result);
/* The signals as an HDF5 file beside report.json, written atomically (docs/formats.md, format
 * dpkit-canary-signals-1). */
int audit_canary_write_signals(const audit_canary_result *result, int multi_run,
                               const char *path, dpkit_error *err);

/* The score distributions of a one-run audit (included against excluded canaries, with the
 * score cut-offs of the bound's guesses) or a multi-run audit (runs with against runs without
 * the canary, with the threshold), the epsilon lower bound in the title (audit/canary_plot.c). */
int audit_canary_plot_scores(const audit_canary_result *result, int multi_run, const char *name,
                             double confidence, const char *png_path, dpkit_error *err);

/* One-run audit (Steinke, Nasr & Jagielski 2023; docs/maths.md 6b): m canaries, each included with
 * probability 1/2, one training, eps_lb from the abstaining guesser (audit_one_run_bound). Input
 * canaries are m training rows taken out of the always-included data and relabelled to a
 * random other class. */
int audit_one_run(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                  const audit_canary_options *options, audit_canary_result *result,
                  dpkit_error *err);

/* Multi-run audit (docs/maths.md 6a): `runs` models with the canary and `runs` without, one
 * canary each; the first half of each side picks the threshold with the best bound, the second
 * half gives FPR and FNR, whose Clopper-Pearson bounds give eps_lb at the accountant's delta. */
int audit_multi_run(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                    const audit_canary_options *options, audit_canary_result *result,
                    dpkit_error *err);

/* Audits with Dirac canaries on coordinates of their own (docs/maths.md 6d), observed at every
 * iterate (audit/dirac_audit.c). `runs` trainings (1 for multi = 0), each with m = canaries
 * canaries included with probability 1/2; a canary's score is the sum of its observations.
 * One-run: eps_lb is the one-run bound (6b) on the scores, or with fdp_bound the f-DP bound (6e)
 * with its guess count chosen against the claimed mu, each with the ideal attacker's bound and
 * the mu-GDP estimate beside it. Multi-run: eps_lb is the larger of the mu-GDP lower end and the
 * Clopper-Pearson bound over the canaries (each at half the level; the likelihood-ratio score
 * for Poisson rate q and the claimed sigma, threshold chosen on the first half of the canaries). */
int audit_dirac(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                const audit_canary_options *options, int multi, audit_canary_result *result,
                dpkit_error *err);

/* ------------------------------------------------------------------------------------------
 * A classifier audit as one call (audit/classifier_audit.c) and its report.json
 * (audit/classifier_report.c, written atomically; the head is common to the three kinds).
 * ------------------------------------------------------------------------------------------ */

typedef enum { AUDIT_MEMBERSHIP, AUDIT_ONE_RUN, AUDIT_MULTI_RUN } audit_kind;

/* The audited training, as the report names it. */
typedef struct audit_report_info {
    const char *name;             /* of the audit */
    const char *kind;             /* membership, one-run, multi-run */
    const char *training_config;  /* path of the base training config */
    const char *dataset;
    const char *inject_fault;     /* none, no-noise */
    int private_mode;
    int reproducible_noise;
} audit_report_info;

/* The accountant's epsilon against the empirical lower bound: violated when eps_lb > epsilon,
 * i.e. the training is not as private as claimed. */
typedef struct audit_verdict {
    double epsilon, delta, epsilon_lb, confidence;
    int violated;
} audit_verdict;

audit_verdict audit_verdict_of(double epsilon, double delta, double epsilon_lb,
                               double confidence);

/* What an audit changes in its base training config. */
typedef struct audit_training_overrides {
    const char *sets;        /* key=value assignments separated by spaces (at most 64) */
    double epsilon;          /* > 0: the target epsilon, sigma calibrated to it; 0: the config's */
    int disable_privacy;     /* 1: the non-private baseline */
    int reproducible_noise;  /* 1: the private streams keyed from the seed too */
} audit_training_overrides;

/* The audited training config: the base config at path with the overrides (the assignments
 * first, then the privacy ones). Messages name the audit config's keys (training.set,
 * privacy.epsilon, training.config). */
int audit_training_load(const char *path, const audit_training_overrides *overrides,
                        run_config *out, dpkit_error *err);

typedef struct audit_classifier_settings {
    audit_kind kind;
    const run_config *training;          /* the audited training config */
    audit_fault fault;
    audit_membership_options membership; /* kind membership */
    audit_canary_options canary;         /* kinds one-run and multi-run */
} audit_classifier_settings;

/* A classifier audit as its config describes it (docs/audit.md). */
typedef struct audit_classifier_job {
    config *cfg;                         /* the validated audit config */
    char dir[2048];                      /* the audit directory */
    run_config training;                 /* the audited training config, overrides applied */
    audit_classifier_settings settings;  /* settings.training points to training above */
    audit_report_info info;              /* what report.json says about the audit */
} audit_classifier_job;

/* The audit config's keys (kind membership, one-run, multi-run), bounds included. */
extern const config_field audit_classifier_schema[];
/* Reads the audit config at path with its --set style overrides and the training config it
 * names; output_dir (may be NULL) replaces output.dir. Free with audit_classifier_job_free,
 * also after a failure; the job must stay where it was loaded. 0, or -1 with err naming the
 * file and the key. */
int audit_classifier_job_load(const char *path, const char *const *sets, size_t set_count,
                              const char *output_dir, audit_classifier_job *job,
                              dpkit_error *err);
void audit_classifier_job_free(audit_classifier_job *job);

typedef struct audit_classifier_result {
    audit_verdict verdict;
    double noise_multiplier;     /* of the audited training(s) */
    long long steps;
    double test_accuracy, train_seconds;
    audit_membership_result membership; /* kind membership */
    audit_canary_result canary;         /* kinds one-run and multi-run */
} audit_classifier_result;

/* Loads the training config's features (from the cache), trains the models of the audit with
 * the config's engine settings and gives the lower bound beside the accountant's epsilon. Free
 * *out with audit_classifier_result_free, also after a failure. */
int audit_classifier(const audit_classifier_settings *settings, audit_classifier_result *out,
                     dpkit_error *err);
void audit_classifier_result_free(audit_classifier_result *result);

/* figure, signals: the paths of the figure (roc.png, scores.png) and of signals.h5 the report
 * points to. */
int audit_membership_write_report(const char *path, const audit_report_info *info,
                                  const audit_verdict *verdict,
                                  const audit_membership_options *options,
                                  const audit_membership_result *result, const char *figure,
                                  const char *signals, dpkit_error *err);
/* multi: a multi-run audit (else one-run). */
int audit_canary_write_report(const char *path, const audit_report_info *info,
                              const audit_verdict *verdict, const audit_canary_options *options,
                              int multi, const audit_canary_result *result, const char *figure,
                              const char *signals, dpkit_error *err);

#endif
