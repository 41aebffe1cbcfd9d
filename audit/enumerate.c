/* Exact exposure by enumerating a whole secret space through its prefix tree: a depth-first
 * traversal that asks the model once per internal node (docs/maths.md 5, "With R enumerated
 * completely this is the exact exposure"). */
#include "audit/audit_internal.h"

#include "common/memory.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*leaf_visitor)(void *context, uint64_t index, double cost_nats);

typedef struct traversal {
    const audit_secret_space *space;
    audit_search_stats *stats;
    double bound;          /* prefixes costing more than this (nats) are skipped */
    leaf_visitor visit;
    void *context;
    int32_t *path;         /* symbols of the current node */
    /* Per depth d = 1..length-1: the batch of children of the current node at depth d-1
     * (alphabet x d symbols), their next-symbol log-probabilities (alphabet x alphabet) and
     * which symbol each batch row extends the path with. */
    int32_t **prefixes;
    double **log_prob;
    int32_t **symbols;
    void *block;
} traversal;

static int traversal_init(traversal *t, const audit_secret_space *space, dpkit_error *err)
{
    memset(t, 0, sizeof *t);
    t->space = space;
    size_t a = space->alphabet_size, l = space->length;
    size_t bytes = l * sizeof(int32_t) + 3 * l * sizeof(void *);
    for (size_t d = 1; d < l; d++)
        bytes += a * a * sizeof(double) + a * d * sizeof(int32_t) + a * sizeof(int32_t);
    /* Doubles first in each depth's slice keeps them aligned (the pointers come first). */
    char *block = malloc(bytes + 16);
    if (!block)
        return error_set(err, "secret space: out of memory for the traversal (%zu bytes)", bytes);
    t->block = block;
    t->prefixes = (int32_t **)block;
    t->log_prob = (double **)(block + l * sizeof(void *));
    t->symbols = (int32_t **)(block + 2 * l * sizeof(void *));
    char *p = block + 3 * l * sizeof(void *);
    for (size_t d = 1; d < l; d++) {
        t->log_prob[d] = (double *)p;
        p += a * a * sizeof(double);
    }
    for (size_t d = 1; d < l; d++) {
        t->prefixes[d] = (int32_t *)p;
        p += a * d * sizeof(int32_t);
        t->symbols[d] = (int32_t *)p;
        p += a * sizeof(int32_t);
    }
    t->path = (int32_t *)p;
    return 0;
}

/* The node at `depth` (path[0..depth)) costs `cost` nats; log_prob is its next-symbol
 * distribution. Children on the last level are leaves; otherwise all unpruned children are
 * scored in one model call and visited in symbol order (so leaves come in index order). */
static int visit_node(traversal *t, size_t depth, uint64_t index, double cost,
                      const double *log_prob, dpkit_error *err)
{
    size_t a = t->space->alphabet_size;
    if (depth + 1 == t->space->length) {
        for (size_t s = 0; s < a; s++)
            t->visit(t->context, index * a + s, cost + -log_prob[s]);
        return 0;
    }
    size_t child_depth = depth + 1, count = 0;
    int32_t *prefixes = t->prefixes[child_depth];
    for (size_t s = 0; s < a; s++) {
        if (cost + -log_prob[s] > t->bound)
            continue;
        memcpy(prefixes + count * child_depth, t->path, depth * sizeof(int32_t));
        prefixes[count * child_depth + depth] = (int32_t)s;
        t->symbols[child_depth][count++] = (int32_t)s;
    }
    if (count == 0)
        return 0;
    double *child_log_prob = t->log_prob[child_depth];
    if (audit_call_model(t->space, prefixes, count, child_depth, child_log_prob, t->stats, err))
        return -1;
    for (size_t j = 0; j < count; j++) {
        int32_t s = t->symbols[child_depth][j];
        t->path[depth] = s;
        if (visit_node(t, child_depth, index * a + (uint64_t)s, cost + -log_prob[s],
                       child_log_prob + j * a, err))
            return -1;
    }
    return 0;
}

static int space_size(const audit_secret_space *space, uint64_t *size, dpkit_error *err)
{
    uint64_t n = 1;
    for (size_t i = 0; i < space->length; i++) {
        if (n > AUDIT_ENUMERATION_MAX / space->alphabet_size)
            return error_set(err, "secret space: %zu^%zu members, more than the %llu that "
                             "enumeration accepts (use extrapolation or extraction instead)",
                             space->alphabet_size, space->length,
                             (unsigned long long)AUDIT_ENUMERATION_MAX);
        n *= space->alphabet_size;
    }
    *size = n;
    return 0;
}

static int traverse(const audit_secret_space *space, double bound, leaf_visitor visit,
                    void *context, audit_search_stats *stats, dpkit_error *err)
{
    traversal t;
    if (traversal_init(&t, space, err))
        return -1;
    t.bound = bound;
    t.visit = visit;
    t.context = context;
    t.stats = stats;
    double *root = malloc(space->alphabet_size * sizeof *root);
    int status = -1;
    if (!root)
        error_set(err, "secret space: out of memory");
    else if (audit_call_model(space, NULL, 1, 0, root, stats, err) == 0)
        status = visit_node(&t, 0, 0, 0.0, root, err);
    free(root);
    free(t.block);
    return status;
}

int audit_secret_log_perplexity(const audit_secret_space *space, const int32_t *secret,
                                double *log_perplexity, dpkit_error *err)
{
    if (audit_check_space(space, err) || audit_check_secret(space, secret, "secret", err))
        return -1;
    double *log_prob = malloc(space->alphabet_size * sizeof *log_prob);
    if (!log_prob)
        return error_set(err, "secret: out of memory");
    double cost = 0.0;
    for (size_t d = 0; d < space->length; d++) {
        if (audit_call_model(space, secret, 1, d, log_prob, NULL, err)) {
            free(log_prob);
            return -1;
        }
        cost = cost + -log_prob[secret[d]];
    }
    free(log_prob);
    *log_perplexity = audit_nats_to_bits(cost);
    return 0;
}

static void store_leaf(void *context, uint64_t index, double cost)
{
    ((double *)context)[index] = audit_nats_to_bits(cost);
}

int audit_secret_space_log_perplexities(const audit_secret_space *space, double *out,
                                        audit_search_stats *stats, dpkit_error *err)
{
    uint64_t size = 0;
    audit_search_stats local = {0};
    if (audit_check_space(space, err) || space_size(space, &size, err))
        return -1;
    double start = audit_now_seconds();
    int status = traverse(space, INFINITY, store_leaf, out, &local, err);
    local.seconds = audit_now_seconds() - start;
    if (stats)
        *stats = local;
    return status ? error_prefix(err, "enumerating the secret space") : 0;
}

/* Counting for exact ranks: secrets sorted by cost; a leaf of cost c counts for every secret
 * costing >= c, recorded as one increment at the first such secret (prefix sums later). */
typedef struct rank_counter {
    size_t count;
    const double *cost;        /* bits, ascending */
    const uint64_t *index;     /* member index of each sorted secret */
    const size_t *by_index;    /* sorted positions ordered by member index */
    uint64_t *increments;      /* count + 1 */
    uint64_t *self;            /* leaves that were the secret itself and counted for it */
} rank_counter;

static size_t first_at_least(const double *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void count_leaf(void *context, uint64_t index, double cost_nats)
{
    rank_counter *c = context;
    double bits = audit_nats_to_bits(cost_nats);
    size_t first = first_at_least(c->cost, c->count, bits);
    c->increments[first]++;
    /* Is this leaf one of the secrets? rank counts the others only. */
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->index[c->by_index[mid]] < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < c->count && c->index[c->by_index[lo]] == index; lo++)
        if (c->by_index[lo] >= first)
            c->self[c->by_index[lo]]++;
}

static int compare_sorted_by_index(const void *a, const void *b, void *index_)
{
    const uint64_t *index = index_;
    uint64_t x = index[*(const size_t *)a], y = index[*(const size_t *)b];
    return (x > y) - (x < y);
}

int audit_exposure_exact(const audit_secret_space *space, const int32_t *secrets,
                         size_t secret_count, uint64_t *rank, double *exposure,
                         audit_search_stats *stats, dpkit_error *err)
{
    uint64_t size = 0;
    if (audit_check_space(space, err) || space_size(space, &size, err))
        return error_prefix(err, "exact exposure");
    if (secret_count == 0)
        return error_set(err, "exact exposure: no secrets given");
    audit_search_stats local = {0};
    double start = audit_now_seconds();
    size_t n = secret_count;
    double *input_cost = malloc(n * sizeof *input_cost); /* bits, in input order */
    uint64_t *input_index = malloc(n * sizeof *input_index);
    size_t *by_cost = malloc(n * sizeof *by_cost); /* inputs by ascending cost (ties by input) */
    double *cost = malloc(n * sizeof *cost);
    uint64_t *index = malloc(n * sizeof *index);
    size_t *by_index = malloc(n * sizeof *by_index);
    uint64_t *increments = calloc(n + 1, sizeof *increments);
    uint64_t *self = calloc(n, sizeof *self);
    int status = -1;
    if (!input_cost || !input_index || !by_cost || !cost || !index || !by_index || !increments ||
        !self) {
        error_set(err, "exact exposure: out of memory for %zu secrets", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const int32_t *secret = secrets + i * space->length;
        char what[48];
        snprintf(what, sizeof what, "secret %zu", i);
        if (audit_check_secret(space, secret, what, err) ||
            audit_secret_log_perplexity(space, secret, &input_cost[i], err))
            goto done;
        local.nodes_expanded += space->length;
        local.model_calls += space->length;
        uint64_t idx = 0;
        for (size_t d = 0; d < space->length; d++)
            idx = idx * space->alphabet_size + (uint64_t)secret[d];
        input_index[i] = idx;
    }
    audit_rank_ascending(input_cost, n, by_cost);
    for (size_t i = 0; i < n; i++) {
        cost[i] = input_cost[by_cost[i]];
        index[i] = input_index[by_cost[i]];
        by_index[i] = i;
    }
    qsort_r(by_index, n, sizeof *by_index, compare_sorted_by_index, index);
    rank_counter counter = {n, cost, index, by_index, increments, self};
    /* A prefix costing more than every secret cannot lead to a leaf that counts. The bound is in
     * nats, slightly widened so that the conversion to bits cannot drop a leaf. */
    double bound = cost[n - 1] * 0.69314718055994530942 * (1.0 + 1e-12);
    if (traverse(space, bound, count_leaf, &counter, &local, err)) {
        error_prefix(err, "exact exposure");
        goto done;
    }
    uint64_t cumulative = 0;
    double log2_size = log2((double)size);
    for (size_t i = 0; i < n; i++) {
        cumulative += increments[i];
        uint64_t r = 1 + cumulative - self[i];
        size_t at = by_cost[i];
        if (rank)
            rank[at] = r;
        if (exposure)
            exposure[at] = log2_size - log2((double)r);
    }
    status = 0;
done:
    local.seconds = audit_now_seconds() - start;
    if (stats)
        *stats = local;
    MEMORY_FREE_ALL(input_cost, input_index, by_cost, cost, index, by_index, increments, self);
    return status;
}
