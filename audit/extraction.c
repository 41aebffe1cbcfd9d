/* Secret extraction by best-first search over the prefix tree of a secret space (Dijkstra with
 * edge cost -log2 Pr(symbol | prefix) >= 0, docs/maths.md 5): complete secrets are popped in order
 * of increasing log-perplexity, so the first k popped are the k most likely. */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct search_node {
    double cost;      /* nats from the root */
    uint32_t parent;
    int32_t symbol;
    uint32_t depth;
} search_node;

typedef struct search {
    const audit_secret_space *space;
    search_node *nodes;
    size_t node_count, node_capacity, max_nodes;
    uint32_t *heap;   /* node ids, min-heap on (cost, id) */
    size_t heap_count;
} search;

static int node_before(const search *s, uint32_t a, uint32_t b)
{
    double ca = s->nodes[a].cost, cb = s->nodes[b].cost;
    return ca < cb || (ca == cb && a < b);
}

static void heap_push(search *s, uint32_t id)
{
    size_t i = s->heap_count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!node_before(s, id, s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = id;
}

static uint32_t heap_pop(search *s)
{
    uint32_t top = s->heap[0], last = s->heap[--s->heap_count];
    size_t i = 0, n = s->heap_count;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && node_before(s, s->heap[child + 1], s->heap[child]))
            child++;
        if (!node_before(s, s->heap[child], last))
            break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

/* Adds a node; returns its id, or -1 when max_nodes is reached or memory runs out. */
static long add_node(search *s, double cost, uint32_t parent, int32_t symbol, uint32_t depth)
{
    if (s->node_count >= s->max_nodes)
        return -1;
    if (s->node_count == s->node_capacity) {
        size_t capacity = s->node_capacity ? 2 * s->node_capacity : 1024;
        if (capacity > s->max_nodes)
            capacity = s->max_nodes;
        search_node *nodes = realloc(s->nodes, capacity * sizeof *nodes);
        uint32_t *heap = nodes ? realloc(s->heap, capacity * sizeof *heap) : NULL;
        if (nodes)
            s->nodes = nodes;
        if (!heap)
            return -1;
        s->heap = heap;
        s->node_capacity = capacity;
    }
    search_node *n = &s->nodes[s->node_count];
    n->cost = cost;
    n->parent = parent;
    n->symbol = symbol;
    n->depth = depth;
    heap_push(s, (uint32_t)s->node_count);
    return (long)s->node_count++;
}

static void node_path(const search *s, uint32_t id, int32_t *path)
{
    for (uint32_t d = s->nodes[id].depth; d > 0; d--) {
        path[d - 1] = s->nodes[id].symbol;
        id = s->nodes[id].parent;
    }
}

static int compare_depth(const void *a, const void *b, void *nodes_)
{
    const search_node *nodes = nodes_;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (nodes[x].depth != nodes[y].depth)
        return nodes[x].depth < nodes[y].depth ? -1 : 1;
    return (x > y) - (x < y);
}

/* Scores the children of the batch's nodes (one model call per distinct depth) and pushes them.
 * Returns 1 if the node limit stopped it, 0 when done, -1 on error. */
static int expand(search *s, uint32_t *batch, size_t batch_count, int32_t *prefixes,
                  double *log_prob, audit_search_stats *stats, dpkit_error *err)
{
    size_t a = s->space->alphabet_size;
    qsort_r(batch, batch_count, sizeof *batch, compare_depth, s->nodes);
    for (size_t start = 0; start < batch_count;) {
        uint32_t depth = s->nodes[batch[start]].depth;
        size_t end = start;
        while (end < batch_count && s->nodes[batch[end]].depth == depth)
            end++;
        for (size_t j = start; j < end; j++)
            node_path(s, batch[j], prefixes + (j - start) * depth);
        if (audit_call_model(s->space, prefixes, end - start, depth, log_prob, stats, err))
            return -1;
        for (size_t j = start; j < end; j++) {
            uint32_t parent = batch[j];
            double cost = s->nodes[parent].cost;
            for (size_t symbol = 0; symbol < a; symbol++) {
                double lp = log_prob[(j - start) * a + symbol];
                if (lp == -INFINITY)
                    continue; /* probability 0: never a candidate */
                if (add_node(s, cost + -lp, parent, (int32_t)symbol, depth + 1) < 0)
                    return 1;
            }
        }
        start = end;
    }
    return 0;
}

int audit_extract(const audit_secret_space *space, const audit_extraction_options *options,
                  const int32_t *true_secret, int32_t *candidates, double *log_perplexity,
                  audit_extraction_result *result, dpkit_error *err)
{
    if (audit_check_space(space, err))
        return error_prefix(err, "extraction");
    if (!options || options->k == 0)
        return error_set(err, "extraction: k = 0 candidates requested, expected >= 1");
    if (true_secret && audit_check_secret(space, true_secret, "extraction: true secret", err))
        return -1;
    size_t l = space->length, a = space->alphabet_size;
    size_t batch = options->batch ? options->batch : 1;
    size_t max_nodes = options->max_nodes ? options->max_nodes : (size_t)1 << 22;
    if (max_nodes > UINT32_MAX)
        return error_set(err, "extraction: max_nodes %zu, expected at most %u", max_nodes,
                         UINT32_MAX);
    memset(result, 0, sizeof *result);
    double start = audit_now_seconds();
    search s = {.space = space, .max_nodes = max_nodes};
    uint32_t *pending = malloc(batch * sizeof *pending);
    int32_t *prefixes = malloc(batch * l * sizeof *prefixes);
    double *log_prob = malloc(batch * a * sizeof *log_prob);
    int status = -1;
    if (!pending || !prefixes || !log_prob) {
        error_set(err, "extraction: out of memory for a batch of %zu", batch);
        goto done;
    }
    if (add_node(&s, 0.0, 0, -1, 0) < 0) {
        error_set(err, "extraction: out of memory");
        goto done;
    }
    while (result->found < options->k && s.heap_count > 0) {
        /* Pop up to `batch` internal nodes; a complete secret on top is the best remaining one
         * only if nothing popped before it is still unexpanded, so it waits for the batch. */
        size_t count = 0;
        while (count < batch && s.heap_count > 0) {
            uint32_t top = s.heap[0];
            if (s.nodes[top].depth == l) {
                if (count > 0)
                    break;
                heap_pop(&s);
                int32_t *out = candidates + result->found * l;
                node_path(&s, top, out);
                log_perplexity[result->found] = audit_nats_to_bits(s.nodes[top].cost);
                result->found++;
                if (true_secret && result->true_rank == 0 &&
                    memcmp(out, true_secret, l * sizeof *out) == 0)
                    result->true_rank = result->found;
                if (result->found == options->k)
                    break;
                continue;
            }
            pending[count++] = heap_pop(&s);
        }
        if (count == 0)
            continue;
        int expanded = expand(&s, pending, count, prefixes, log_prob, &result->stats, err);
        if (expanded < 0) {
            error_prefix(err, "extraction");
            goto done;
        }
        if (expanded > 0) {
            if (s.node_count < s.max_nodes) {
                error_set(err, "extraction: out of memory at %zu nodes", s.node_count);
                goto done;
            }
            result->truncated = 1;
            break;
        }
    }
    status = 0;
done:
    result->stats.seconds = audit_now_seconds() - start;
    free(pending);
    free(prefixes);
    free(log_prob);
    free(s.nodes);
    free(s.heap);
    return status;
}
