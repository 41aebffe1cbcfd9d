/* Files of the Secret Sharer experiment (docs/audit.md): canaries.json, report.json and the
 * exposure plot, each written atomically. */
#include "audit/audit_internal.h"

#include "common/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef audit_canary_experiment_settings settings;
typedef audit_canary_experiment_result result;

int audit_canary_experiment_write_canaries(const settings *s, const result *r, const char *path,
                                           dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "canaries.json", err))
        return -1;
    json_field_string(&w, "alphabet", s->alphabet);
    json_field_int(&w, "length", (long long)s->length);
    json_field_int(&w, "seed", s->seed);
    json_field_int(&w, "rng_stream", RNG_STREAM_CANARY);
    json_key(&w, "canaries");
    json_begin_array(&w);
    for (size_t j = 0, slot = 0; j < s->canary_count; j++) {
        const audit_canary *c = &r->canaries[j];
        json_begin_object(&w);
        json_field_string(&w, "prefix", c->prefix);
        json_field_string(&w, "secret", c->secret);
        json_field_int(&w, "insertions", (long long)c->insertions);
        json_key(&w, "byte_offsets");
        json_begin_array(&w);
        for (size_t t = 0; t < c->insertions; t++)
            json_int(&w, (long long)r->positions[slot++]);
        json_end_array(&w);
        json_end_object(&w);
    }
    json_end_array(&w);
    return json_document_write(&w, path, err);
}

static void json_secret(json_writer *w, const settings *s, const int32_t *symbols)
{
    char text[AUDIT_CANARY_MAX_LENGTH + 1];
    for (size_t d = 0; d < s->length; d++)
        text[d] = s->alphabet[symbols[d]];
    text[s->length] = 0;
    json_string(w, text);
}

static void json_sample(json_writer *w, const settings *s, const result *r,
                        const audit_canary_model *m, size_t i)
{
    size_t L = s->sample_length;
    char *text = malloc(4 * L + 1);
    dpkit_error ignored;
    json_begin_object(w);
    if (text && !datasets_vocabulary_decode(&r->tokens.vocabulary, m->samples + i * L, L, text,
                                            4 * L + 1, &ignored))
        json_field_string(w, "text", text);
    const audit_canary_sample *e = &m->sample_stats[i];
    json_field_double(w, "bits_per_char", e->bits_per_char);
    json_field_int(w, "zlib_bytes", (long long)e->zlib_bytes);
    json_field_double(w, "zlib_score", e->zlib_score);
    json_field_int(w, "verbatim_grams", (long long)e->matches);
    json_field_int(w, "first_verbatim_offset", e->first_match);
    json_field_int(w, "rarest_training_occurrences", (long long)e->rarest);
    json_end_object(w);
    free(text);
}

static void json_top_samples(json_writer *w, const settings *s, const result *r,
                             const audit_canary_model *m, int by_zlib, size_t top)
{
    size_t n = s->samples;
    double *scores = malloc(n * sizeof *scores);
    size_t *order = malloc(n * sizeof *order);
    json_begin_array(w);
    if (scores && order) {
        for (size_t i = 0; i < n; i++)
            scores[i] = by_zlib ? m->sample_stats[i].zlib_score : m->sample_stats[i].bits_per_char;
        audit_rank_ascending(scores, n, order);
        for (size_t i = 0; i < top && i < n; i++)
            json_sample(w, s, r, m, order[i]);
    }
    json_end_array(w);
    free(scores);
    free(order);
}

static void json_canary(json_writer *w, const settings *s, const result *r,
                        const audit_canary_model *m, size_t j)
{
    const audit_canary_outcome *c = &m->canaries[j];
    json_begin_object(w);
    json_field_int(w, "insertions", (long long)s->insertions[j]);
    json_field_double(w, "log_perplexity_bits", c->log_perplexity);
    if (r->enumerated) {
        json_field_int(w, "rank", (long long)c->rank);
        json_field_double(w, "exposure_exact", c->exposure_exact);
        json_field_int(w, "enumeration_nodes", (long long)c->enumeration.nodes_expanded);
        json_field_double(w, "enumeration_seconds", c->enumeration.seconds);
    }
    json_field_double(w, "exposure_interpolated", c->exposure_interpolated);
    json_field_double(w, "exposure_extrapolated", c->exposure_extrapolated);
    json_key(w, "skewnorm_fit");
    json_begin_object(w);
    json_field_double(w, "shape", m->fit[j].shape);
    json_field_double(w, "loc", m->fit[j].loc);
    json_field_double(w, "scale", m->fit[j].scale);
    json_end_object(w);
    json_key(w, "extraction");
    json_begin_object(w);
    json_field_bool(w, "extracted", c->extraction.true_rank == 1);
    json_field_int(w, "rank_among_candidates", (long long)c->extraction.true_rank);
    json_field_int(w, "nodes_expanded", (long long)c->extraction.stats.nodes_expanded);
    json_field_int(w, "model_calls", (long long)c->extraction.stats.model_calls);
    json_field_double(w, "seconds", c->extraction.stats.seconds);
    json_field_bool(w, "truncated", c->extraction.truncated);
    json_key(w, "candidates");
    json_begin_array(w);
    for (size_t i = 0; i < c->extraction.found; i++) {
        json_begin_object(w);
        json_key(w, "secret");
        json_secret(w, s, c->candidates + i * s->length);
        json_field_double(w, "log_perplexity_bits", c->candidate_bits[i]);
        json_end_object(w);
    }
    json_end_array(w);
    json_end_object(w);
    json_end_object(w);
}

static void json_data_extraction(json_writer *w, const settings *s, const result *r,
                                 const audit_canary_model *m)
{
    json_key(w, "data_extraction");
    json_begin_object(w);
    json_field_int(w, "samples", (long long)s->samples);
    json_field_int(w, "sample_length", (long long)s->sample_length);
    json_field_double(w, "temperature", s->temperature);
    json_field_int(w, "top_k", (long long)s->top_k);
    json_field_int(w, "min_match", (long long)s->min_match);
    json_field_int(w, "memorised_samples", (long long)m->hits);
    json_field_double(w, "memorised_fraction", m->hit_rate);
    json_field_int(w, "precision_k", (long long)s->top);
    json_field_double(w, "precision_perplexity", m->precision_perplexity);
    json_field_double(w, "precision_zlib", m->precision_zlib);
    json_field_int(w, "max_occurrences", (long long)s->max_occurrences);
    json_field_int(w, "rare_memorised_samples", (long long)m->rare_hits);
    json_field_double(w, "rare_memorised_fraction", m->rare_rate);
    json_field_double(w, "rare_precision_perplexity", m->rare_precision_perplexity);
    json_field_double(w, "rare_precision_zlib", m->rare_precision_zlib);
    json_key(w, "top_by_perplexity");
    json_top_samples(w, s, r, m, 0, 10);
    json_key(w, "top_by_zlib");
    json_top_samples(w, s, r, m, 1, 10);
    json_end_object(w);
}

static void json_model(json_writer *w, const settings *s, const result *r, size_t run)
{
    const audit_canary_model *m = &r->models[run];
    json_begin_object(w);
    json_field_string(w, "label", s->runs[run].label);
    json_field_bool(w, "private", s->runs[run].private_mode);
    json_field_double(w, "epsilon", m->epsilon);
    json_field_double(w, "delta", s->runs[run].private_mode ? s->delta : NAN);
    json_field_double(w, "noise_multiplier", m->sigma);
    json_field_int(w, "epochs", (long long)s->runs[run].epochs);
    json_field_int(w, "steps", m->steps);
    json_field_double(w, "train_bits_per_char", m->train_loss_bits);
    json_field_double(w, "holdout_bits_per_char", m->holdout_bits);
    json_field_double(w, "holdout_accuracy", m->holdout_accuracy);
    json_field_double(w, "train_seconds", m->train_seconds);
    json_field_double(w, "audit_seconds", m->audit_seconds);
    json_key(w, "canaries");
    json_begin_array(w);
    for (size_t j = 0; j < s->canary_count; j++)
        json_canary(w, s, r, m, j);
    json_end_array(w);
    json_data_extraction(w, s, r, m);
    json_end_object(w);
}

int audit_canary_experiment_write_report(const settings *s, const result *r, const char *path,
                                         dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "report.json", err))
        return -1;
    json_field_string(&w, "kind", "canaries");
    json_field_string(&w, "name", s->name);
    json_field_string(&w, "corpus", s->corpus);
    json_field_int(&w, "train_bytes", (long long)r->train_bytes);
    json_field_int(&w, "canary_bytes", (long long)(r->train_bytes - s->bytes));
    json_field_int(&w, "holdout_bytes", (long long)s->holdout_bytes);
    json_field_int(&w, "vocabulary", (long long)r->tokens.vocabulary.size);
    json_field_int(&w, "context", (long long)s->context);
    json_field_int(&w, "hidden", (long long)s->hidden);
    json_field_string(&w, "privacy_unit", "one window (context of k characters and the next one)");
    json_field_double(&w, "log2_space", r->log2_space);
    json_field_bool(&w, "enumerated", r->enumerated);
    json_field_double(&w, "seconds", r->seconds);
    json_field_bool(&w, "reproducible_noise", s->reproducible_noise);
    json_field_string(&w, "noise_key", rng_noise_key_description(s->reproducible_noise));
    json_key(&w, "canaries");
    json_begin_array(&w);
    for (size_t j = 0; j < s->canary_count; j++) {
        json_begin_object(&w);
        json_field_string(&w, "prefix", r->canaries[j].prefix);
        json_field_string(&w, "secret", r->canaries[j].secret);
        json_field_int(&w, "insertions", (long long)r->canaries[j].insertions);
        json_end_object(&w);
    }
    json_end_array(&w);
    json_key(&w, "models");
    json_begin_array(&w);
    for (size_t run = 0; run < s->run_count; run++)
        json_model(&w, s, r, run);
    json_end_array(&w);
    return json_document_write(&w, path, err);
}

int audit_canary_experiment_plot(const settings *s, const result *r, const char *path,
                                 dpkit_error *err)
{
    /* every canary of every model, including those never inserted (the baseline) */
    double insertions[AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    double epsilons[AUDIT_CANARY_EXPERIMENT_MAX_RUNS];
    double exposure[AUDIT_CANARY_EXPERIMENT_MAX_RUNS * AUDIT_CANARY_EXPERIMENT_MAX_CANARIES];
    size_t inserted = 0;
    for (size_t j = 0; j < s->canary_count; j++) {
        insertions[j] = (double)s->insertions[j];
        inserted += s->insertions[j] > 0;
    }
    if (inserted == 0)
        return 0;
    for (size_t run = 0; run < s->run_count; run++) {
        epsilons[run] = r->models[run].epsilon;
        for (size_t j = 0; j < s->canary_count; j++)
            exposure[run * s->canary_count + j] =
                audit_canary_experiment_exposure(r, &r->models[run].canaries[j]);
    }
    char title[128];
    snprintf(title, sizeof title, "Canary exposure (log_2 |R| = %.1f bits)", r->log2_space);
    audit_exposure_plot plot = {.epsilons = epsilons, .model_count = s->run_count,
                                .insertions = insertions, .canary_count = s->canary_count,
                                .exposure = exposure, .ceiling = r->log2_space};
    return audit_plot_exposure(path, &plot, title, err);
}
