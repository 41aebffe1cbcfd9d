/* Secret Sharer audit: canary generation and insertion, the character model's secret space
 * against brute force, extraction order on a trained tiny model, the verbatim index, zlib and
 * precision at k, and an end-to-end `dpkit audit` of kind canaries on a small generated corpus. */
#include "audit/audit.h"
#include "common/config.h"
#include "datasets/datasets.h"
#include "tests/test_util.h"
#include "tests/test_util_figure.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t insertions[] = {0, 1, 3};

Test(audit_canaries, generation_is_reproducible_and_insertion_is_recorded)
{
    audit_canary a[3], b[3], c[3];
    rng r;
    dpkit_error err;
    rng_init_seed(&r, 7, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_generate("the pin of {id} is ", "0123456789", 6, insertions, 3,
                                         &r, a, &err), 0, "%s", err.message);
    rng_init_seed(&r, 7, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_generate("the pin of {id} is ", "0123456789", 6, insertions, 3,
                                         &r, b, &err), 0);
    rng_init_seed(&r, 8, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_generate("the pin of {id} is ", "0123456789", 6, insertions, 3,
                                         &r, c, &err), 0);
    int differs = 0;
    for (size_t j = 0; j < 3; j++) {
        cr_assert_str_eq(a[j].secret, b[j].secret);
        differs |= strcmp(a[j].secret, c[j].secret) != 0;
        cr_assert_eq(strlen(a[j].secret), 6);
        for (size_t d = 0; d < 6; d++)
            cr_assert_eq(a[j].secret[d], '0' + a[j].symbols[d]);
        char expected[64];
        snprintf(expected, sizeof expected, "the pin of %c is ", 'A' + (int)j);
        cr_assert_str_eq(a[j].prefix, expected);
        cr_assert_eq(a[j].insertions, insertions[j]);
    }
    cr_assert(differs, "another seed gives other secrets");
    cr_assert_neq(audit_canaries_generate("x", "00", 6, insertions, 3, &r, c, &err), 0);
    cr_assert(strstr(err.message, "twice"), "%s", err.message);

    const char *text = "line one\nline two\nthree\nfour";
    size_t n = strlen(text), positions[4], positions2[4], count, count2;
    uint8_t *out, *out2;
    rng_init_seed(&r, 1, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_insert((const uint8_t *)text, n, a, 3, &r, &out, &count,
                                       positions, &err), 0, "%s", err.message);
    rng_init_seed(&r, 1, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_insert((const uint8_t *)text, n, a, 3, &r, &out2, &count2,
                                       positions2, &err), 0);
    cr_assert_eq(count, count2);
    cr_assert_eq(memcmp(out, out2, count), 0);
    cr_assert_eq(memcmp(positions, positions2, sizeof positions), 0);
    size_t line = strlen(a[1].prefix) + 6 + 1;
    cr_assert_eq(count, n + 4 * line);
    /* every recorded position holds its canary's line at a line start; cutting them out gives
     * back the original text */
    uint8_t *keep = calloc(count, 1);
    for (size_t i = 0; i < 4; i++) {
        const audit_canary *ca = i == 0 ? &a[1] : &a[2];
        char expected[AUDIT_CANARY_MAX_TEXT + AUDIT_CANARY_MAX_LENGTH + 2];
        snprintf(expected, sizeof expected, "%s%s\n", ca->prefix, ca->secret);
        cr_assert(positions[i] == 0 || out[positions[i] - 1] == '\n');
        cr_assert_eq(memcmp(out + positions[i], expected, line), 0, "insertion %zu", i);
        memset(keep + positions[i], 1, line);
    }
    char *rebuilt = malloc(count + 1);
    size_t m = 0;
    for (size_t i = 0; i < count; i++)
        if (!keep[i])
            rebuilt[m++] = (char)out[i];
    rebuilt[m] = 0;
    cr_assert_str_eq(rebuilt, text);
    free(rebuilt);
    free(keep);
    free(out);
    free(out2);
}

/* A small untrained model with random parameters. */
static void make_model(audit_char_lm *lm, size_t context, size_t vocabulary, size_t hidden,
                       size_t batch, uint64_t seed)
{
    dpkit_error err;
    cr_assert_eq(audit_char_lm_create(context, vocabulary, hidden, batch, lm, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    dp_model_init(&lm->model, &r, 0);
    for (size_t i = 0; i < lm->model.param_count; i++) /* sharper distributions than the init */
        lm->model.params[i] *= 4.0f;
}

/* log2-perplexity of one filling computed window by window, independent of the space code. */
static double brute_force_bits(audit_char_lm *lm, const int32_t *prefix, size_t prefix_count,
                               const int32_t *alphabet_ids, const int32_t *secret, size_t length)
{
    int32_t sequence[64], context[16];
    double log_prob[64], nats = 0;
    memcpy(sequence, prefix, prefix_count * sizeof *prefix);
    for (size_t d = 0; d < length; d++)
        sequence[prefix_count + d] = alphabet_ids[secret[d]];
    dpkit_error err;
    for (size_t d = 0; d < length; d++) {
        size_t end = prefix_count + d;
        memcpy(context, sequence + end - lm->context, lm->context * sizeof *context);
        cr_assert_eq(audit_char_lm_log_probs(lm, context, 1, log_prob, &err), 0);
        nats += -log_prob[sequence[end]];
    }
    return nats / log(2.0);
}

Test(audit_canaries, enumeration_through_the_model_equals_brute_force)
{
    audit_char_lm lm;
    make_model(&lm, 3, 6, 8, 7, 11);
    const int32_t prefix[] = {5, 0, 2, 1}, alphabet[] = {1, 3, 4};
    audit_char_lm_space cs;
    audit_secret_space space;
    dpkit_error err;
    cr_assert_eq(audit_char_lm_space_init(&cs, &lm, prefix, 4, alphabet, 3, 4, &space, &err), 0,
                 "%s", err.message);
    enum { SIZE = 81 };
    double tree[SIZE], batched[SIZE], brute[SIZE];
    int32_t all[SIZE * 4];
    for (size_t i = 0; i < SIZE; i++)
        for (size_t d = 0, v = i; d < 4; d++, v /= 3)
            all[i * 4 + 3 - d] = (int32_t)(v % 3);
    audit_search_stats stats;
    cr_assert_eq(audit_secret_space_log_perplexities(&space, tree, &stats, &err), 0, "%s",
                 err.message);
    cr_assert_eq(stats.nodes_expanded, 1 + 3 + 9 + 27);
    cr_assert_eq(audit_char_lm_space_log_perplexities(&cs, all, SIZE, batched, &err), 0);
    for (size_t i = 0; i < SIZE; i++) {
        brute[i] = brute_force_bits(&lm, prefix, 4, alphabet, all + i * 4, 4);
        cr_assert_float_eq(tree[i], brute[i], 1e-9, "secret %zu: %g vs %g", i, tree[i], brute[i]);
        cr_assert_float_eq(batched[i], brute[i], 1e-9, "secret %zu", i);
        double one;
        cr_assert_eq(audit_secret_log_perplexity(&space, all + i * 4, &one, &err), 0);
        cr_assert_eq(one, batched[i], "batched scoring keeps the order of operations");
    }
    /* exact ranks of a few secrets against counting every member */
    const size_t picks[] = {0, 40, 77};
    int32_t secrets[12];
    for (size_t j = 0; j < 3; j++)
        memcpy(secrets + j * 4, all + picks[j] * 4, 4 * sizeof *secrets);
    uint64_t rank[3];
    double exposure[3];
    cr_assert_eq(audit_exposure_exact(&space, secrets, 3, rank, exposure, NULL, &err), 0);
    for (size_t j = 0; j < 3; j++) {
        uint64_t expected = 1;
        for (size_t i = 0; i < SIZE; i++)
            expected += i != picks[j] && batched[i] <= batched[picks[j]];
        cr_assert_eq(rank[j], expected, "secret %zu", picks[j]);
        cr_assert_float_eq(exposure[j], log2(81.0) - log2((double)expected), 1e-12);
    }
    audit_char_lm_space_free(&cs);
    audit_char_lm_free(&lm);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Repetitive text over a few words with a canary line inserted many times. */
static char *tiny_corpus(size_t lines, uint64_t seed)
{
    static const char *words[] = {"the", "nation", "of", "peace", "and", "law", "we", "will",
                                  "build", "a", "year", "2013", "10", "30", "people", "4567",
                                  "89", "ABC"};
    const size_t word_count = sizeof words / sizeof *words;
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    size_t size = lines * 80 + 1, used = 0;
    char *text = malloc(size);
    for (size_t l = 0; l < lines; l++) {
        size_t count = 3 + rng_below(&r, 6);
        for (size_t w = 0; w < count; w++)
            used += (size_t)snprintf(text + used, size - used, "%s%s", w ? " " : "",
                                     words[rng_below(&r, word_count)]);
        used += (size_t)snprintf(text + used, size - used, ".\n");
    }
    return text;
}

Test(audit_canaries, extraction_returns_candidates_in_order_of_probability)
{
    dpkit_error err;
    char *base = tiny_corpus(150, 3);
    audit_canary canary;
    size_t count = 40;
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_CANARY);
    cr_assert_eq(audit_canaries_generate("my pin is ", "0123", 4, &count, 1, &r, &canary, &err),
                 0);
    uint8_t *text;
    size_t n;
    cr_assert_eq(audit_canaries_insert((const uint8_t *)base, strlen(base), &canary, 1, &r, &text,
                                       &n, NULL, &err), 0);
    free(base);
    size_t starts[2] = {0, n};
    char *names[1] = {"tiny"};
    dataset_text corpus = {.document_count = 1, .document_names = names, .document_starts = starts,
                           .bytes = text, .byte_count = n};
    dataset_tokens tokens;
    cr_assert_eq(datasets_text_tokenize(&corpus, DATASET_TEXT_BYTES, &tokens, &err), 0);
    audit_char_lm lm;
    make_model(&lm, 6, tokens.vocabulary.size, 32, 64, 2);
    rng init;
    rng_init_seed(&init, 4, RNG_STREAM_INIT);
    dp_model_init(&lm.model, &init, 0);
    audit_char_windows windows = {tokens.ids, tokens.count, 6, tokens.vocabulary.size};
    dp_data train = audit_char_windows_data(&windows), none = {0};
    dp_train_config config = {.batch_size = 32, .physical_batch = 64, .epochs = 6};
    dp_optimizer_config opt;
    dp_optimizer_config_default(&opt);
    opt.kind = DP_OPTIMIZER_ADAM;
    opt.lr = 0.01;
    dp_train_state state = {0};
    accountant_ledger_init(&state.ledger);
    cr_assert_eq(dp_optimizer_create(&opt, lm.model.param_count, &state.optimizer, &err), 0);
    rng_init_seed(&state.sampler, 1, RNG_STREAM_SAMPLING);
    dp_epoch_metrics metrics;
    for (int e = 0; e < config.epochs; e++)
        cr_assert_eq(dp_train_epoch(&lm.model, &lm.ws, &config, &state, &train, &none, &metrics,
                                    &err), 0, "%s", err.message);
    test_train_state_free(&state);

    int32_t prefix[32], alphabet[4];
    size_t prefix_count, a;
    cr_assert_eq(datasets_vocabulary_encode(&tokens.vocabulary, "\nmy pin is ", prefix,
                                            &prefix_count, &err), 0);
    cr_assert_eq(datasets_vocabulary_encode(&tokens.vocabulary, "0123", alphabet, &a, &err), 0);
    audit_char_lm_space cs;
    audit_secret_space space;
    cr_assert_eq(audit_char_lm_space_init(&cs, &lm, prefix, prefix_count, alphabet, 4, 4, &space,
                                          &err), 0, "%s", err.message);
    enum { SIZE = 256, K = 20 };
    int32_t all[SIZE * 4], candidates[K * 4];
    double bits[SIZE], sorted[SIZE], candidate_bits[K];
    for (size_t i = 0; i < SIZE; i++)
        for (size_t d = 0, v = i; d < 4; d++, v /= 4)
            all[i * 4 + 3 - d] = (int32_t)(v % 4);
    cr_assert_eq(audit_char_lm_space_log_perplexities(&cs, all, SIZE, bits, &err), 0);
    memcpy(sorted, bits, sizeof sorted);
    qsort(sorted, SIZE, sizeof *sorted, compare_double);
    audit_extraction_options options = {.k = K, .batch = 8};
    audit_extraction_result result;
    cr_assert_eq(audit_extract(&space, &options, canary.symbols, candidates, candidate_bits,
                               &result, &err), 0, "%s", err.message);
    cr_assert_eq(result.found, K);
    cr_assert_eq(result.true_rank, 1, "the memorised secret %s comes out first", canary.secret);
    for (size_t i = 0; i < K; i++) {
        size_t index = 0;
        for (size_t d = 0; d < 4; d++)
            index = index * 4 + (size_t)candidates[i * 4 + d];
        cr_assert_float_eq(candidate_bits[i], bits[index], 1e-9, "candidate %zu (%zu): %.17g vs %.17g",
                           i, index, candidate_bits[i], bits[index]);
        cr_assert_float_eq(candidate_bits[i], sorted[i], 1e-9, "candidate %zu is the %zu-th best",
                           i, i + 1);
        if (i > 0)
            cr_assert_leq(candidate_bits[i - 1], candidate_bits[i]);
    }
    /* sampling is reproducible and stays in the vocabulary */
    int32_t prompts[2 * 6], s1[2 * 20], s2[2 * 20];
    memcpy(prompts, prefix + prefix_count - 6, 6 * sizeof *prompts);
    memcpy(prompts + 6, tokens.ids, 6 * sizeof *prompts);
    double p1[2], p2[2];
    rng_init_seed(&r, 9, RNG_STREAM_SAMPLER);
    cr_assert_eq(audit_char_lm_sample(&lm, prompts, 2, 20, 1.0, 5, &r, s1, p1, &err), 0);
    rng_init_seed(&r, 9, RNG_STREAM_SAMPLER);
    cr_assert_eq(audit_char_lm_sample(&lm, prompts, 2, 20, 1.0, 5, &r, s2, p2, &err), 0);
    cr_assert_eq(memcmp(s1, s2, sizeof s1), 0);
    cr_assert_eq(p1[0], p2[0]);
    cr_assert_gt(p1[0], 0);
    /* greedy decoding (top 1) after the canary prefix writes the memorised secret */
    cr_assert_eq(audit_char_lm_sample(&lm, prompts, 1, 4, 1.0, 1, &r, s1, NULL, &err), 0);
    for (size_t d = 0; d < 4; d++)
        cr_assert_eq(s1[d], alphabet[canary.symbols[d]]);
    audit_char_lm_space_free(&cs);
    audit_char_lm_free(&lm);
    datasets_tokens_free(&tokens);
    free(text);
}

Test(audit_canaries, verbatim_index_finds_planted_substrings)
{
    enum { N = 5000, Q = 400, L = 12 };
    int32_t *text = malloc(N * sizeof *text), query[Q];
    rng r;
    rng_init_seed(&r, 21, RNG_STREAM_TEST);
    for (size_t i = 0; i < N; i++)
        text[i] = (int32_t)rng_below(&r, 20);
    for (size_t i = 0; i < Q; i++)
        query[i] = (int32_t)rng_below(&r, 20);
    memcpy(query + 100, text + 1234, 30 * sizeof *query); /* 30 planted ids: 19 grams */
    memcpy(query + 300, text + 4988, 12 * sizeof *query); /* the text's last gram */
    audit_ngram_index index;
    dpkit_error err;
    cr_assert_eq(audit_ngram_index_build(text, N, L, &index, &err), 0);
    size_t expected = 0;
    long long first_expected = -1;
    for (size_t p = 0; p + L <= Q; p++) {
        long long brute = -1;
        for (size_t t = 0; t + L <= N && brute < 0; t++)
            if (memcmp(text + t, query + p, L * sizeof *text) == 0)
                brute = (long long)t;
        cr_assert_eq(audit_ngram_index_find(&index, query + p), brute, "gram at %zu", p);
        if (brute >= 0 && first_expected < 0)
            first_expected = (long long)p;
        expected += brute >= 0;
    }
    long long first;
    size_t rarest;
    cr_assert_geq(expected, 19 + 1);
    cr_assert_eq(audit_ngram_index_matches(&index, query, Q, &first, &rarest), expected);
    cr_assert_eq(first, first_expected);
    cr_assert_leq(first, 100);
    cr_assert_geq(rarest, 1);
    /* occurrence counts against counting every position */
    for (size_t p = 95; p < 140; p++) {
        size_t brute = 0;
        for (size_t t = 0; t + L <= N; t++)
            brute += memcmp(text + t, query + p, L * sizeof *text) == 0;
        cr_assert_eq(audit_ngram_index_count(&index, query + p), brute, "gram at %zu", p);
    }
    audit_ngram_index_free(&index);
    /* a gram repeated three times is counted three times */
    const int32_t repeated_text[] = {1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 3};
    cr_assert_eq(audit_ngram_index_build(repeated_text, 11, 3, &index, &err), 0);
    cr_assert_eq(audit_ngram_index_count(&index, repeated_text), 3);
    cr_assert_eq(audit_ngram_index_count(&index, repeated_text + 2), 1);
    cr_assert_eq(audit_ngram_index_find(&index, repeated_text + 4), 0);
    audit_ngram_index_free(&index);
    free(text);

    /* zlib: repetitive text compresses far better than random bytes */
    uint8_t repeated[1000], noise[1000];
    for (size_t i = 0; i < 1000; i++) {
        repeated[i] = (uint8_t)("abcd"[i % 4]);
        noise[i] = (uint8_t)rng_below(&r, 256);
    }
    size_t small, large;
    cr_assert_eq(audit_zlib_bytes(repeated, 1000, &small, &err), 0);
    cr_assert_eq(audit_zlib_bytes(noise, 1000, &large, &err), 0);
    cr_assert_lt(small, 40);
    cr_assert_gt(large, 990);
    const double scores[] = {0.5, 0.1, 0.9, 0.3, 0.2};
    const uint8_t hits[] = {1, 1, 0, 0, 1};
    cr_assert_float_eq(audit_precision_at_k(scores, hits, 5, 2), 1.0, 1e-15); /* 0.1, 0.2 */
    cr_assert_float_eq(audit_precision_at_k(scores, hits, 5, 3), 2.0 / 3, 1e-15);
    size_t order[5];
    audit_rank_ascending(scores, 5, order);
    cr_assert(order[0] == 1 && order[1] == 4 && order[2] == 3 && order[3] == 0 && order[4] == 2);
}

Test(audit_canaries, end_to_end_command_on_a_small_corpus)
{
    const char *dir = test_temp_dir();
    char corpus[1024], config_path[1024], args[4096], path[1200];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    char *text = tiny_corpus(1200, 8);
    cr_assert_eq(test_write_file(corpus, text, strlen(text)), 0);
    free(text);
    char config[2048];
    snprintf(config, sizeof config,
             "kind: canaries\n"
             "name: tiny-canaries\n"
             "data: {corpus: %s, bytes: 20000, holdout_bytes: 3000}\n"
             "model: {context: 6, hidden: 32}\n"
             "canaries: {length: 3, insertions: \"0 2 40\"}\n"
             "privacy: {reproducible_noise: true}\n" /* outcomes measured at this seed */
             "training: {epochs: 4, batch_size: 64, physical_batch: 64,\n"
             "           optimizer: {kind: adam, lr: 0.01}}\n"
             "runs:\n"
             "  - {label: no-dp, private: false}\n"
             "  - {label: eps1, private: true, epsilon: 1, epochs: 1}\n"
             "audit: {references: 300, extraction_k: 5}\n"
             "extraction: {samples: 60, length: 32, min_match: 12, top: 10}\n"
             "output: {dir: %s/out}\n",
             corpus, dir);
    snprintf(config_path, sizeof config_path, "%s/canaries.yaml", dir);
    cr_assert_eq(test_write_file(config_path, config, strlen(config)), 0);
    char *out;
    snprintf(args, sizeof args, "audit %s", config_path); /* dispatched on kind: canaries */
    cr_assert_eq(test_run_dpkit(args, &out), 0, "%s", out);
    cr_assert(strstr(out, "Secret Sharer audit") && strstr(out, "no-dp") && strstr(out, "eps1"),
              "%s", out);
    free(out);

    snprintf(path, sizeof path, "%s/out/canaries.json", dir);
    config_node *canaries;
    dpkit_error err;
    cr_assert_eq(config_parse_file(path, &canaries, &err), 0, "%s", err.message);
    const config_node *offsets = config_node_find(canaries, "canaries[2].byte_offsets");
    cr_assert_eq(config_node_length(offsets), 40);
    cr_assert_eq(strlen(config_node_find(canaries, "canaries[0].secret")->value), 3);

    snprintf(path, sizeof path, "%s/out/report.json", dir);
    config_node *report;
    cr_assert_eq(config_parse_file(path, &report, &err), 0, "%s", err.message);
    cr_assert_eq(config_node_length(config_node_find(report, "models")), 2);
    for (size_t m = 0; m < 2; m++) {
        for (size_t j = 0; j < 3; j++) {
            char key[128];
            double exact, interpolated;
            snprintf(key, sizeof key, "models[%zu].canaries[%zu].exposure_exact", m, j);
            cr_assert_eq(config_node_double(config_node_find(report, key), &exact, &err), 0, "%s",
                         key);
            cr_assert(exact >= 0 && exact <= log2(1000.0) + 1e-9, "%s = %g", key, exact);
            snprintf(key, sizeof key, "models[%zu].canaries[%zu].exposure_interpolated", m, j);
            cr_assert_eq(config_node_double(config_node_find(report, key), &interpolated, &err), 0);
        }
    }
    /* the canary inserted 40 times into 20 kB is memorised without DP: top exposure, extracted */
    double exposure;
    cr_assert_eq(config_node_double(config_node_find(report, "models[0].canaries[2].exposure_exact"),
                                    &exposure, &err), 0);
    cr_assert_float_eq(exposure, log2(1000.0), 1e-9);
    const config_node *extracted = config_node_find(report, "models[0].canaries[2].extraction.extracted");
    cr_assert_str_eq(extracted->value, "true");
    const config_node *secret = config_node_find(report, "canaries[2].secret");
    const config_node *first = config_node_find(report, "models[0].canaries[2].extraction.candidates[0].secret");
    cr_assert_str_eq(first->value, secret->value);
    double epsilon;
    cr_assert_eq(config_node_double(config_node_find(report, "models[1].epsilon"), &epsilon, &err), 0);
    cr_assert(epsilon > 0.5 && epsilon <= 1.0 + 1e-9, "epsilon %g", epsilon);
    config_node_free(report);
    config_node_free(canaries);
    snprintf(path, sizeof path, "%s/out/exposure.png", dir);
    test_check_figure(path);
}

Test(audit_canaries, bad_configs_name_the_key)
{
    const char *dir = test_temp_dir();
    static const char *const cases[][2] = {
        {"kind: membership\n", "kind: expected one of canaries"},
        {"kind: canaries\ncanaries: {insertions: \"1 x 2\"}\n", "canaries.insertions"},
        {"kind: canaries\ncanaries: {alphabet: \"7\"}\ndata: {corpus: /nonexistent}\n",
         "data.corpus"},
        {"kind: canaries\nruns: [{label: a, private: true}]\n", "runs[0] (a)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[1024], args[2048];
        snprintf(path, sizeof path, "%s/bad%zu.yaml", dir, i);
        cr_assert_eq(test_write_file(path, cases[i][0], strlen(cases[i][0])), 0);
        snprintf(args, sizeof args, "audit-canaries %s --output %s/out%zu", path, dir, i);
        char *out;
        cr_assert_eq(test_run_dpkit(args, &out), 1, "case %zu: %s", i, out);
        cr_assert(strstr(out, cases[i][1]), "case %zu: %s", i, out);
        free(out);
    }
}
