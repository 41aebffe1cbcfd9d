/* Edit distance and nearest word for did-you-mean messages (see spelling.h). */
#include "common/spelling.h"

#include <string.h>

size_t spelling_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 255 || lb > 255)
        return (size_t)-1;
    size_t row[256];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

size_t spelling_tolerance(const char *word)
{
    /* two slips in a short word already make another word; long ones tolerate a third */
    return strlen(word) >= 12 ? 3 : 2;
}

long spelling_nearest(const char *word, const char *const *candidates, size_t count)
{
    long nearest = -1;
    size_t best = spelling_tolerance(word);
    for (size_t i = 0; i < count; i++) {
        size_t d = spelling_distance(word, candidates[i]);
        if (d < best || (d == best && nearest < 0)) {
            best = d;
            nearest = (long)i;
        }
    }
    return nearest;
}
