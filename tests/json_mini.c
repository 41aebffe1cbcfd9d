/* Minimal JSON reader for test reference files (see json_mini.h). */
#include "tests/json_mini.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_space(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static const char *parse_value(const char *p, json_value *out);

static const char *parse_string(const char *p, char **out)
{
    if (*p != '"')
        return NULL;
    p++;
    size_t cap = 16, len = 0;
    char *s = malloc(cap);
    while (s && *p && *p != '"') {
        char c = *p++;
        if (c == '\\') {
            c = *p++;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'u') { /* tests only need ASCII names; keep a placeholder */
                if (strlen(p) < 4)
                    break;
                p += 4;
                c = '?';
            }
        }
        if (len + 2 > cap) {
            char *grown = realloc(s, cap *= 2);
            if (!grown) {
                free(s);
                return NULL;
            }
            s = grown;
        }
        s[len++] = c;
    }
    if (!s || *p != '"') {
        free(s);
        return NULL;
    }
    s[len] = '\0';
    *out = s;
    return p + 1;
}

static const char *parse_members(const char *p, json_value *out, int object)
{
    char close = object ? '}' : ']';
    p = skip_space(p + 1);
    size_t cap = 0;
    while (*p != close) {
        if (out->count == cap) {
            cap = cap ? 2 * cap : 8;
            json_value *items = realloc(out->items, cap * sizeof *items);
            char **keys = object ? realloc(out->keys, cap * sizeof *keys) : NULL;
            if (!items || (object && !keys)) {
                if (items)
                    out->items = items;
                if (keys)
                    out->keys = keys;
                return NULL;
            }
            out->items = items;
            if (object)
                out->keys = keys;
        }
        json_value *item = &out->items[out->count];
        memset(item, 0, sizeof *item);
        if (object) {
            out->keys[out->count] = NULL;
            p = parse_string(p, &out->keys[out->count]);
            out->count++;
            if (!p)
                return NULL;
            p = skip_space(p);
            if (*p != ':')
                return NULL;
            p = skip_space(p + 1);
        } else {
            out->count++;
        }
        p = parse_value(p, item);
        if (!p)
            return NULL;
        p = skip_space(p);
        if (*p == ',')
            p = skip_space(p + 1);
        else if (*p != close)
            return NULL;
    }
    return p + 1;
}

static const char *parse_value(const char *p, json_value *out)
{
    p = skip_space(p);
    if (*p == '{') {
        out->type = JSON_OBJECT;
        return parse_members(p, out, 1);
    }
    if (*p == '[') {
        out->type = JSON_ARRAY;
        return parse_members(p, out, 0);
    }
    if (*p == '"') {
        out->type = JSON_STRING;
        return parse_string(p, &out->string);
    }
    if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        out->type = JSON_BOOL;
        out->number = *p == 't';
        return p + (*p == 't' ? 4 : 5);
    }
    if (!strncmp(p, "null", 4)) {
        out->type = JSON_NULL;
        return p + 4;
    }
    if (!strncmp(p, "NaN", 3) || !strncmp(p, "Infinity", 8) || !strncmp(p, "-Infinity", 9) ||
        *p == '-' || isdigit((unsigned char)*p)) {
        char *end;
        out->type = JSON_NUMBER;
        out->number = strtod(p, &end);
        return end == p ? NULL : end;
    }
    return NULL;
}

static void json_free_members(json_value *v)
{
    for (size_t i = 0; i < v->count; i++) {
        json_free_members(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
}

void json_free(json_value *v)
{
    if (!v)
        return;
    json_free_members(v);
    free(v);
}

json_value *json_parse(const char *text)
{
    json_value *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    const char *end = text ? parse_value(text, v) : NULL;
    if (!end || *skip_space(end) != '\0') {
        json_free(v);
        return NULL;
    }
    return v;
}

const json_value *json_get(const json_value *object, const char *key)
{
    if (!object || object->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < object->count; i++)
        if (object->keys[i] && !strcmp(object->keys[i], key))
            return &object->items[i];
    return NULL;
}

double *json_numbers(const json_value *array, size_t *count)
{
    if (!array || array->type != JSON_ARRAY)
        return NULL;
    double *out = malloc((array->count ? array->count : 1) * sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < array->count; i++) {
        if (array->items[i].type != JSON_NUMBER) {
            free(out);
            return NULL;
        }
        out[i] = array->items[i].number;
    }
    *count = array->count;
    return out;
}
