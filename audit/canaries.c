/* Canaries for the Secret Sharer audit (docs/maths.md 5): a template line with a uniformly random
 * secret, inserted a chosen number of times at random line starts of a training text. */
#include "audit/audit_internal.h"

#include "common/memory.h"

#include <stdlib.h>
#include <string.h>

int audit_canaries_generate(const char *template_text, const char *alphabet, size_t length,
                            const size_t *insertions, size_t count, rng *r, audit_canary *out,
                            dpkit_error *err)
{
    size_t a = strlen(alphabet);
    if (a < 2)
        return error_set(err, "canaries.alphabet: \"%s\", expected at least 2 characters",
                         alphabet);
    for (size_t i = 0; i < a; i++) {
        if ((unsigned char)alphabet[i] >= 0x80 || alphabet[i] == '\n')
            return error_set(err, "canaries.alphabet: character %zu is not printable ASCII", i);
        if (strchr(alphabet + i + 1, alphabet[i]))
            return error_set(err, "canaries.alphabet: '%c' appears twice", alphabet[i]);
    }
    if (length < 1 || length > AUDIT_CANARY_MAX_LENGTH)
        return error_set(err, "canaries.length: %zu, expected 1..%d", length,
                         AUDIT_CANARY_MAX_LENGTH);
    if (count > 26 && strstr(template_text, "{id}"))
        return error_set(err, "canaries: %zu canaries, expected at most 26 (ids A..Z)", count);
    if (strchr(template_text, '\n'))
        return error_set(err, "canaries.template: contains a newline, expected one line");
    for (size_t j = 0; j < count; j++) {
        audit_canary *c = &out[j];
        memset(c, 0, sizeof *c);
        c->insertions = insertions[j];
        const char *at = strstr(template_text, "{id}");
        int written;
        if (at)
            written = snprintf(c->prefix, sizeof c->prefix, "%.*s%c%s", (int)(at - template_text),
                               template_text, 'A' + (int)j, at + 4);
        else
            written = snprintf(c->prefix, sizeof c->prefix, "%s", template_text);
        if (written < 0 || (size_t)written >= sizeof c->prefix)
            return error_set(err, "canaries.template: longer than %d characters",
                             AUDIT_CANARY_MAX_TEXT - 1);
        for (size_t d = 0; d < length; d++) {
            size_t s = (size_t)rng_below(r, a);
            c->symbols[d] = (int32_t)s;
            c->secret[d] = alphabet[s];
        }
        c->secret[length] = '\0';
    }
    return 0;
}

typedef struct insertion {
    size_t at;       /* line start in the original text */
    size_t canary;
    size_t order;    /* draw order, for stable ties */
} insertion;

static int compare_insertion(const void *a, const void *b)
{
    const insertion *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

int audit_canaries_insert(const uint8_t *text, size_t n, const audit_canary *canaries,
                          size_t count, rng *r, uint8_t **out, size_t *out_count,
                          size_t *positions, dpkit_error *err)
{
    *out = NULL;
    *out_count = 0;
    size_t lines = 0, total = 0, extra = 0;
    for (size_t i = 0; i < n; i++)
        lines += i == 0 || text[i - 1] == '\n';
    for (size_t j = 0; j < count; j++) {
        total += canaries[j].insertions;
        extra += canaries[j].insertions *
                 (strlen(canaries[j].prefix) + strlen(canaries[j].secret) + 1);
    }
    if (lines == 0 && total > 0)
        return error_set(err, "canaries: the text is empty, nowhere to insert them");
    size_t *starts = malloc((lines ? lines : 1) * sizeof *starts);
    insertion *plan = malloc((total ? total : 1) * sizeof *plan);
    uint8_t *result = malloc(n + extra + 1);
    if (!starts || !plan || !result) {
        MEMORY_FREE_ALL(starts, plan, result);
        return error_set(err, "canaries: out of memory for %zu insertions", total);
    }
    for (size_t i = 0, l = 0; i < n; i++)
        if (i == 0 || text[i - 1] == '\n')
            starts[l++] = i;
    size_t m = 0;
    for (size_t j = 0; j < count; j++)
        for (size_t t = 0; t < canaries[j].insertions; t++, m++)
            plan[m] = (insertion){starts[rng_below(r, lines)], j, m};
    qsort(plan, total, sizeof *plan, compare_insertion);
    size_t written = 0, copied = 0;
    size_t *next_slot = calloc(count ? count : 1, sizeof *next_slot);
    size_t *slot_base = calloc(count ? count : 1, sizeof *slot_base);
    if (!next_slot || !slot_base) {
        MEMORY_FREE_ALL(starts, plan, result, next_slot, slot_base);
        return error_set(err, "canaries: out of memory");
    }
    for (size_t j = 1; j < count; j++)
        slot_base[j] = slot_base[j - 1] + canaries[j - 1].insertions;
    for (size_t i = 0; i < total; i++) {
        const audit_canary *c = &canaries[plan[i].canary];
        memcpy(result + written, text + copied, plan[i].at - copied);
        written += plan[i].at - copied;
        copied = plan[i].at;
        /* Inserted before a line start (which follows a newline), so the canary is a line. */
        if (positions)
            positions[slot_base[plan[i].canary] + next_slot[plan[i].canary]++] = written;
        size_t lp = strlen(c->prefix), ls = strlen(c->secret);
        memcpy(result + written, c->prefix, lp);
        memcpy(result + written + lp, c->secret, ls);
        result[written + lp + ls] = '\n';
        written += lp + ls + 1;
    }
    memcpy(result + written, text + copied, n - copied);
    written += n - copied;
    result[written] = 0;
    MEMORY_FREE_ALL(starts, plan, next_slot, slot_base);
    *out = result;
    *out_count = written;
    return 0;
}
