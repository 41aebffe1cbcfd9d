/* A minimal JSON reader for the tests' reference files (objects, arrays, numbers, strings,
 * true/false/null); not a general-purpose parser. */
#ifndef DPKIT_TESTS_JSON_MINI_H
#define DPKIT_TESTS_JSON_MINI_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    double number;            /* JSON_NUMBER, JSON_BOOL (0/1) */
    char *string;             /* JSON_STRING */
    size_t count;             /* JSON_ARRAY / JSON_OBJECT members */
    char **keys;              /* JSON_OBJECT: member names */
    struct json_value *items; /* members */
} json_value;

/* Parses a whole document; NULL on a syntax error. Free with json_free. */
json_value *json_parse(const char *text);
void json_free(json_value *v);
/* Member of an object by name, or NULL. */
const json_value *json_get(const json_value *object, const char *key);
/* Copies a numeric array into a malloc'd double array; NULL if not an array of numbers. */
double *json_numbers(const json_value *array, size_t *count);

#endif
