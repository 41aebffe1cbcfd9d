/* Training-data extraction in the style of Carlini et al. 2021: a verbatim index of every
 * L-gram of the training text, zlib entropy of samples, and precision of a ranking in its top k. */
#include "audit/audit_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint64_t hash_ids(const int32_t *ids, size_t length)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a over the ids, then a final mix */
    for (size_t i = 0; i < length; i++) {
        h ^= (uint64_t)(uint32_t)ids[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

int audit_ngram_index_build(const int32_t *ids, size_t count, size_t length,
                            audit_ngram_index *index, dpkit_error *err)
{
    memset(index, 0, sizeof *index);
    if (length < 1)
        return error_set(err, "verbatim index: substring length 0, expected >= 1");
    size_t grams = count >= length ? count - length + 1 : 0;
    size_t slots = 1024;
    while (slots < 2 * grams)
        slots *= 2;
    index->table = calloc(slots, sizeof *index->table);
    index->occurrences = calloc(slots, sizeof *index->occurrences);
    if (!index->table || !index->occurrences) {
        audit_ngram_index_free(index);
        return error_set(err, "verbatim index: out of memory for %zu slots", slots);
    }
    index->ids = ids;
    index->count = count;
    index->length = length;
    index->slots = slots;
    for (size_t p = 0; p < grams; p++) {
        size_t slot = hash_ids(ids + p, length) & (slots - 1);
        for (;;) { /* linear probing; an equal gram already stored is kept (first occurrence) */
            uint64_t e = index->table[slot];
            if (e == 0) {
                index->table[slot] = p + 1;
                index->occurrences[slot] = 1;
                break;
            }
            if (memcmp(ids + (e - 1), ids + p, length * sizeof *ids) == 0) {
                index->occurrences[slot]++;
                break;
            }
            slot = (slot + 1) & (slots - 1);
        }
    }
    return 0;
}

void audit_ngram_index_free(audit_ngram_index *index)
{
    free(index->table);
    free(index->occurrences);
    memset(index, 0, sizeof *index);
}

/* Slot of seq's gram, or -1. */
static long long find_slot(const audit_ngram_index *index, const int32_t *seq)
{
    size_t L = index->length, slot = hash_ids(seq, L) & (index->slots - 1);
    for (;;) {
        uint64_t e = index->table[slot];
        if (e == 0)
            return -1;
        if (memcmp(index->ids + (e - 1), seq, L * sizeof *seq) == 0)
            return (long long)slot;
        slot = (slot + 1) & (index->slots - 1);
    }
}

long long audit_ngram_index_find(const audit_ngram_index *index, const int32_t *seq)
{
    long long slot = find_slot(index, seq);
    return slot < 0 ? -1 : (long long)(index->table[slot] - 1);
}

size_t audit_ngram_index_count(const audit_ngram_index *index, const int32_t *seq)
{
    long long slot = find_slot(index, seq);
    return slot < 0 ? 0 : index->occurrences[slot];
}

size_t audit_ngram_index_matches(const audit_ngram_index *index, const int32_t *seq,
                                 size_t count, long long *first, size_t *rarest)
{
    size_t hits = 0;
    if (first)
        *first = -1;
    if (rarest)
        *rarest = 0;
    for (size_t p = 0; p + index->length <= count; p++) {
        size_t n = audit_ngram_index_count(index, seq + p);
        if (n == 0)
            continue;
        if (first && hits == 0)
            *first = (long long)p;
        if (rarest && (*rarest == 0 || n < *rarest))
            *rarest = n;
        hits++;
    }
    return hits;
}

int audit_zlib_bytes(const uint8_t *data, size_t n, size_t *compressed, dpkit_error *err)
{
    uLongf size = compressBound((uLong)n);
    Bytef *buffer = malloc(size ? size : 1);
    if (!buffer)
        return error_set(err, "zlib: out of memory");
    int status = compress2(buffer, &size, data, (uLong)n, 9);
    free(buffer);
    if (status != Z_OK)
        return error_set(err, "zlib: compress2 failed (%d) on %zu bytes", status, n);
    *compressed = (size_t)size;
    return 0;
}

static int compare_rank(const void *a, const void *b, void *scores_)
{
    const double *scores = scores_;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (scores[x] != scores[y])
        return scores[x] < scores[y] ? -1 : 1;
    return (x > y) - (x < y);
}

void audit_rank_ascending(const double *scores, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, compare_rank, (void *)scores);
}

double audit_precision_at_k(const double *scores, const uint8_t *hits, size_t n, size_t k)
{
    if (k == 0 || n == 0)
        return 0;
    if (k > n)
        k = n;
    size_t *order = malloc(n * sizeof *order);
    if (!order)
        return -1;
    audit_rank_ascending(scores, n, order);
    size_t good = 0;
    for (size_t i = 0; i < k; i++)
        good += hits[order[i]] != 0;
    free(order);
    return (double)good / (double)k;
}
