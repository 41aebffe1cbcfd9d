/* Did-you-mean suggestions: the edit distance between two words and the nearest of a list, so a
 * misspelt config key or command name can be answered with the one that was meant. */
#ifndef DPKIT_COMMON_SPELLING_H
#define DPKIT_COMMON_SPELLING_H

#include <stddef.h>

/* Levenshtein distance (insertions, deletions, substitutions); (size_t)-1 when either word is
 * longer than 255 characters. */
size_t spelling_distance(const char *a, const char *b);
/* The largest distance still taken for a typo of `word`: 2, or 3 for words of 12 characters
 * or more. */
size_t spelling_tolerance(const char *word);
/* Index of the candidate nearest to word within spelling_tolerance (the first of equals), or -1
 * when none is that close. */
long spelling_nearest(const char *word, const char *const *candidates, size_t count);

#endif
