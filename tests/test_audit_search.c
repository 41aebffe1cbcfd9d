/* Audit: exact exposure by prefix-tree enumeration and extraction by best-first search, both
 * checked against brute force over every member of small secret spaces. */
#include "audit/audit.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A toy language model: next-symbol logits are a hash of the prefix, plus `boost` on the next
 * symbol of a memorised secret while the prefix follows it. */
typedef struct toy_model {
    size_t alphabet, length;
    int32_t secret[8];
    double boost;
    int fail;            /* return an error from the callback */
    int positive;        /* return an invalid log-probability */
    uint64_t prefixes_seen;
} toy_model;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int toy_next(void *user, const int32_t *prefixes, size_t count, size_t length,
                    double *log_prob, dpkit_error *err)
{
    toy_model *m = user;
    if (m->fail)
        return error_set(err, "toy model failure");
    for (size_t i = 0; i < count; i++) {
        const int32_t *p = prefixes + i * length;
        uint64_t h = mix(length);
        int on_secret = 1;
        for (size_t d = 0; d < length; d++) {
            h = mix(h ^ (uint64_t)p[d]);
            on_secret &= p[d] == m->secret[d];
        }
        double *lp = log_prob + i * m->alphabet, max = -INFINITY, sum = 0.0;
        for (size_t s = 0; s < m->alphabet; s++) {
            lp[s] = 4.0 * (double)(mix(h + s) >> 11) * 0x1p-53;
            if (on_secret && (int32_t)s == m->secret[length])
                lp[s] += m->boost;
            max = fmax(max, lp[s]);
        }
        for (size_t s = 0; s < m->alphabet; s++)
            sum += exp(lp[s] - max);
        for (size_t s = 0; s < m->alphabet; s++)
            lp[s] = fmin(lp[s] - max - log(sum), 0.0);
        if (m->positive)
            lp[0] = 0.5;
    }
    m->prefixes_seen += count;
    return 0;
}

static audit_secret_space toy_space(toy_model *m)
{
    audit_secret_space s = {m->alphabet, m->length, toy_next, m};
    return s;
}

static void decode(uint64_t index, size_t alphabet, size_t length, int32_t *secret)
{
    for (size_t d = length; d > 0; d--) {
        secret[d - 1] = (int32_t)(index % alphabet);
        index /= alphabet;
    }
}

/* Every member scored separately, one model call per symbol, no sharing. */
static double *brute_force(toy_model *m, uint64_t *size)
{
    uint64_t n = 1;
    for (size_t i = 0; i < m->length; i++)
        n *= m->alphabet;
    double *cost = malloc(n * sizeof *cost), lp[16];
    int32_t secret[8];
    for (uint64_t r = 0; r < n; r++) {
        decode(r, m->alphabet, m->length, secret);
        double c = 0.0;
        for (size_t d = 0; d < m->length; d++) {
            toy_next(m, secret, 1, d, lp, NULL);
            c = c + -lp[secret[d]];
        }
        cost[r] = c / 0.69314718055994530942;
    }
    *size = n;
    return cost;
}

Test(audit, enumeration_equals_brute_force)
{
    toy_model m = {.alphabet = 5, .length = 4, .secret = {1, 4, 0, 2}, .boost = 2.0};
    audit_secret_space space = toy_space(&m);
    uint64_t n;
    double *expected = brute_force(&m, &n);
    double *got = malloc(n * sizeof *got);
    audit_search_stats stats;
    dpkit_error err;
    m.prefixes_seen = 0;
    cr_assert_eq(audit_secret_space_log_perplexities(&space, got, &stats, &err), 0, "%s",
                 err.message);
    for (uint64_t r = 0; r < n; r++)
        cr_assert_eq(got[r], expected[r], "member %llu", (unsigned long long)r);
    /* One evaluation per internal node (1 + 5 + 25 + 125), children batched per parent. */
    cr_assert_eq(stats.nodes_expanded, 156);
    cr_assert_eq(m.prefixes_seen, 156);
    cr_assert_eq(stats.model_calls, 1 + 1 + 5 + 25);
    free(got);
    free(expected);
}

Test(audit, exact_rank_equals_brute_force)
{
    toy_model m = {.alphabet = 6, .length = 4, .secret = {5, 0, 3, 3}, .boost = 1.5};
    audit_secret_space space = toy_space(&m);
    uint64_t n;
    double *cost = brute_force(&m, &n);
    int32_t secrets[5][4] = {{5, 0, 3, 3}, {0, 0, 0, 0}, {2, 5, 1, 4}, {5, 0, 3, 3}, {3, 3, 3, 3}};
    uint64_t rank[5];
    double exposure[5];
    audit_search_stats stats;
    dpkit_error err;
    cr_assert_eq(audit_exposure_exact(&space, &secrets[0][0], 5, rank, exposure, &stats, &err),
                 0, "%s", err.message);
    for (int i = 0; i < 5; i++) {
        uint64_t index = 0;
        for (int d = 0; d < 4; d++)
            index = index * 6 + (uint64_t)secrets[i][d];
        uint64_t expected = 1;
        for (uint64_t r = 0; r < n; r++)
            expected += r != index && cost[r] <= cost[index];
        cr_assert_eq(rank[i], expected, "secret %d: rank %llu, brute force %llu", i,
                     (unsigned long long)rank[i], (unsigned long long)expected);
        cr_assert_float_eq(exposure[i], log2(1296.0) - log2((double)expected), 1e-12);
    }
    /* Pruning: the traversal skips subtrees already costlier than every secret. */
    cr_assert_lt(stats.nodes_expanded, 1 + 6 + 36 + 216 + 5 * 4);
    free(cost);
}

Test(audit, memorised_secret_has_full_exposure)
{
    toy_model m = {.alphabet = 10, .length = 5, .secret = {3, 1, 4, 1, 5}, .boost = 12.0};
    audit_secret_space space = toy_space(&m);
    uint64_t rank;
    double exposure;
    audit_search_stats stats;
    dpkit_error err;
    cr_assert_eq(audit_exposure_exact(&space, m.secret, 1, &rank, &exposure, &stats, &err), 0);
    cr_assert_eq(rank, 1);
    cr_assert_float_eq(exposure, log2(1e5), 1e-12);
    /* A well-memorised secret makes pruning cut almost everything. */
    cr_assert_lt(stats.nodes_expanded, 200);
}

Test(audit, extraction_returns_enumeration_top_k_in_order)
{
    toy_model m = {.alphabet = 6, .length = 4, .secret = {2, 2, 4, 1}, .boost = 1.0};
    audit_secret_space space = toy_space(&m);
    uint64_t n;
    double *cost = brute_force(&m, &n);
    uint64_t *order = malloc(n * sizeof *order);
    for (uint64_t r = 0; r < n; r++)
        order[r] = r;
    for (uint64_t i = 1; i < n; i++) /* insertion sort by cost: small space, plain code */
        for (uint64_t j = i; j > 0 && cost[order[j]] < cost[order[j - 1]]; j--) {
            uint64_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    uint64_t secret_index = ((2 * 6 + 2) * 6 + 4) * 6 + 1, secret_rank = 0;
    for (uint64_t r = 0; r < n; r++)
        if (order[r] == secret_index)
            secret_rank = r + 1;
    enum { K = 40 };
    size_t batches[3] = {1, 7, 64};
    for (int b = 0; b < 3; b++) {
        audit_extraction_options options = {.k = K, .batch = batches[b]};
        int32_t candidates[K * 4];
        double ppl[K];
        audit_extraction_result result;
        dpkit_error err;
        cr_assert_eq(audit_extract(&space, &options, m.secret, candidates, ppl, &result, &err),
                     0, "%s", err.message);
        cr_assert_eq(result.found, K);
        cr_assert_eq(result.truncated, 0);
        for (int i = 0; i < K; i++) {
            int32_t expected[4];
            decode(order[i], 6, 4, expected);
            cr_assert_eq(memcmp(candidates + 4 * i, expected, sizeof expected), 0,
                         "batch %zu: candidate %d differs", batches[b], i);
            cr_assert_float_eq(ppl[i], cost[order[i]], 1e-12);
            if (i > 0)
                cr_assert_geq(ppl[i], ppl[i - 1]);
        }
        cr_assert_eq(result.true_rank, secret_rank <= K ? secret_rank : 0);
        cr_assert_gt(result.stats.nodes_expanded, 0);
        cr_assert_geq(result.stats.seconds, 0.0);
    }
    free(order);
    free(cost);
}

Test(audit, extraction_finds_memorised_secret_first_cheaply)
{
    toy_model m = {.alphabet = 10, .length = 8, .secret = {2, 7, 1, 8, 2, 8, 1, 8}, .boost = 9.0};
    audit_secret_space space = toy_space(&m);
    audit_extraction_options options = {.k = 1};
    int32_t candidate[8];
    double ppl;
    audit_extraction_result result;
    dpkit_error err;
    cr_assert_eq(audit_extract(&space, &options, m.secret, candidate, &ppl, &result, &err), 0);
    cr_assert_eq(result.true_rank, 1);
    cr_assert_eq(memcmp(candidate, m.secret, sizeof candidate), 0);
    /* 10^8 members, yet only the secret's path is expanded. */
    cr_assert_eq(result.stats.nodes_expanded, 8);
}

Test(audit, extraction_stops_at_node_limit)
{
    toy_model m = {.alphabet = 10, .length = 6, .boost = 0.0};
    audit_secret_space space = toy_space(&m);
    audit_extraction_options options = {.k = 5, .max_nodes = 50};
    int32_t candidates[5 * 6];
    double ppl[5];
    audit_extraction_result result;
    dpkit_error err;
    cr_assert_eq(audit_extract(&space, &options, NULL, candidates, ppl, &result, &err), 0);
    cr_assert_eq(result.truncated, 1);
    cr_assert_lt(result.found, 5);
}

Test(audit, search_rejects_bad_input)
{
    toy_model m = {.alphabet = 4, .length = 3};
    audit_secret_space space = toy_space(&m);
    dpkit_error err;
    double ppl[64];
    audit_extraction_options options = {.k = 2};
    audit_extraction_result result;
    int32_t candidates[6], bad_secret[3] = {0, 4, 1};

    space.alphabet_size = 1;
    cr_assert_eq(audit_secret_space_log_perplexities(&space, ppl, NULL, &err), -1);
    cr_assert(strstr(err.message, "alphabet_size"), "%s", err.message);
    space = toy_space(&m);
    space.length = 0;
    cr_assert_eq(audit_extract(&space, &options, NULL, candidates, ppl, &result, &err), -1);
    cr_assert(strstr(err.message, "length"), "%s", err.message);
    space = toy_space(&m);
    space.next_log_prob = NULL;
    cr_assert_eq(audit_exposure_exact(&space, bad_secret, 1, NULL, NULL, NULL, &err), -1);
    space = toy_space(&m);

    uint64_t rank;
    cr_assert_eq(audit_exposure_exact(&space, bad_secret, 1, &rank, NULL, NULL, &err), -1);
    cr_assert(strstr(err.message, "symbol 1 is 4"), "%s", err.message);
    cr_assert_eq(audit_extract(&space, &options, bad_secret, candidates, ppl, &result, &err), -1);
    options.k = 0;
    cr_assert_eq(audit_extract(&space, &options, NULL, candidates, ppl, &result, &err), -1);
    cr_assert(strstr(err.message, "k = 0"), "%s", err.message);
    options.k = 2;

    m.fail = 1;
    cr_assert_eq(audit_secret_space_log_perplexities(&space, ppl, NULL, &err), -1);
    cr_assert(strstr(err.message, "toy model failure"), "%s", err.message);
    cr_assert_eq(audit_extract(&space, &options, NULL, candidates, ppl, &result, &err), -1);
    cr_assert(strstr(err.message, "toy model failure"), "%s", err.message);
    m.fail = 0;
    m.positive = 1;
    int32_t valid[3] = {0, 1, 2};
    cr_assert_eq(audit_exposure_exact(&space, valid, 1, NULL, NULL, NULL, &err), -1);
    cr_assert(strstr(err.message, "<= 0"), "%s", err.message);
    m.positive = 0;

    toy_model big = {.alphabet = 10, .length = 8};
    audit_secret_space big_space = toy_space(&big);
    int32_t zeros[8] = {0};
    cr_assert_eq(audit_exposure_exact(&big_space, zeros, 1, NULL, NULL, NULL, &err), -1);
    cr_assert(strstr(err.message, "10^8") || strstr(err.message, "enumeration"), "%s",
              err.message);
}
