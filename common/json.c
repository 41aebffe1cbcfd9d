/* Streaming JSON writer (see json.h). */
#include "common/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void init(json_writer *w, FILE *out, int indent)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->indent = indent > 0 ? indent : 0;
}

void json_writer_init_file(json_writer *w, FILE *out, int indent)
{
    init(w, out, indent);
}

int json_writer_init_string(json_writer *w, int indent)
{
    init(w, NULL, indent);
    w->string_mode = 1;
    w->out = open_memstream(&w->buffer, &w->length);
    return w->out ? 0 : -1;
}

void json_writer_free(json_writer *w)
{
    if (w->string_mode && w->out)
        fclose(w->out);
    if (w->string_mode)
        free(w->buffer);
    w->out = NULL;
    w->buffer = NULL;
}

const char *json_writer_string(json_writer *w)
{
    if (!w->out)
        return "";
    fflush(w->out);
    return w->buffer ? w->buffer : "";
}

static void fail(json_writer *w, const char *problem)
{
    if (!w->problem)
        w->problem = problem;
}

static void newline_and_indent(json_writer *w, int depth)
{
    if (!w->indent)
        return;
    fputc('\n', w->out);
    for (int i = 0; i < depth * w->indent; i++)
        fputc(' ', w->out);
}

/* Comma and indentation before a value; checks that values in objects follow a key. */
static int begin_value(json_writer *w)
{
    if (!w->out || w->problem)
        return -1;
    if (w->depth == 0) {
        if (w->count[0] > 0) {
            fail(w, "second top-level value before json_writer_finish");
            return -1;
        }
    } else if (w->container[w->depth] == '{') {
        if (!w->after_key) {
            fail(w, "value in an object without a key");
            return -1;
        }
        w->after_key = 0;
        return 0;
    } else {
        if (w->count[w->depth] > 0)
            fputc(',', w->out);
        newline_and_indent(w, w->depth);
    }
    w->count[w->depth]++;
    return 0;
}

static void begin_container(json_writer *w, char open)
{
    if (begin_value(w) != 0)
        return;
    if (w->depth == JSON_MAX_DEPTH) {
        fail(w, "nested deeper than JSON_MAX_DEPTH");
        return;
    }
    fputc(open, w->out);
    w->depth++;
    w->count[w->depth] = 0;
    w->container[w->depth] = open;
}

static void end_container(json_writer *w, char open, char close)
{
    if (!w->out || w->problem)
        return;
    if (w->depth == 0 || w->container[w->depth] != open || w->after_key) {
        fail(w, close == '}' ? "unbalanced end of object" : "unbalanced end of array");
        return;
    }
    w->depth--;
    if (w->count[w->depth + 1] > 0)
        newline_and_indent(w, w->depth);
    fputc(close, w->out);
}

void json_begin_object(json_writer *w) { begin_container(w, '{'); }
void json_end_object(json_writer *w) { end_container(w, '{', '}'); }
void json_begin_array(json_writer *w) { begin_container(w, '['); }
void json_end_array(json_writer *w) { end_container(w, '[', ']'); }

void json_write_quoted(FILE *out, const char *text)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        switch (*c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            /* control characters, DEL and the C1 controls (UTF-8 C2 80..9F) are escaped so
             * that YAML readers, which reject them raw, accept the output too */
            if (*c < 0x20 || *c == 0x7f)
                fprintf(out, "\\u%04x", *c);
            else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
                fprintf(out, "\\u%04x", c[1]);
                c++;
            } else
                fputc(*c, out);
        }
    }
    fputc('"', out);
}

void json_key(json_writer *w, const char *key)
{
    if (!w->out || w->problem)
        return;
    if (w->depth == 0 || w->container[w->depth] != '{' || w->after_key) {
        fail(w, "key outside an object or twice in a row");
        return;
    }
    if (w->count[w->depth] > 0)
        fputc(',', w->out);
    newline_and_indent(w, w->depth);
    w->count[w->depth]++;
    json_write_quoted(w->out, key ? key : "");
    fputs(w->indent ? ": " : ":", w->out);
    w->after_key = 1;
}

void json_string(json_writer *w, const char *value)
{
    if (!value) {
        json_null(w);
        return;
    }
    if (begin_value(w) == 0)
        json_write_quoted(w->out, value);
}

void json_int(json_writer *w, long long value)
{
    if (begin_value(w) == 0)
        fprintf(w->out, "%lld", value);
}

size_t json_format_double(double value, char *text, size_t size)
{
    if (!isfinite(value))
        return (size_t)snprintf(text, size, "null");
    /* the fewest digits that read back exactly; 17 always do */
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, size, "%.*g", digits, value);
        if (strtod(text, NULL) == value)
            break;
    }
    if (!strpbrk(text, ".e"))
        strncat(text, ".0", size - strlen(text) - 1);
    return strlen(text);
}

void json_double(json_writer *w, double value)
{
    char text[32];
    json_format_double(value, text, sizeof text);
    if (begin_value(w) == 0)
        fputs(text, w->out);
}

void json_bool(json_writer *w, int value)
{
    if (begin_value(w) == 0)
        fputs(value ? "true" : "false", w->out);
}

void json_null(json_writer *w)
{
    if (begin_value(w) == 0)
        fputs("null", w->out);
}

void json_field_string(json_writer *w, const char *key, const char *value)
{
    json_key(w, key);
    json_string(w, value);
}

void json_field_int(json_writer *w, const char *key, long long value)
{
    json_key(w, key);
    json_int(w, value);
}

void json_field_double(json_writer *w, const char *key, double value)
{
    json_key(w, key);
    json_double(w, value);
}

void json_field_bool(json_writer *w, const char *key, int value)
{
    json_key(w, key);
    json_bool(w, value);
}

int json_writer_finish(json_writer *w, dpkit_error *err)
{
    if (!w->out)
        return error_set(err, "JSON writer: no output (out of memory?)");
    if (!w->problem && (w->depth > 0 || w->after_key))
        fail(w, "unfinished object or array");
    if (!w->problem && w->count[0] == 0)
        fail(w, "nothing written");
    if (w->problem)
        return error_set(err, "JSON writer: %s", w->problem);
    fputc('\n', w->out);
    w->count[0] = 0;
    if (fflush(w->out) != 0 || ferror(w->out))
        return error_set(err, "JSON writer: write error");
    return 0;
}
