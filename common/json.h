/* A small streaming JSON writer to a FILE* or a growable string: objects, arrays, keys and
 * scalars with automatic commas, for --json outputs, metrics.jsonl lines and report.json.
 *
 *   json_writer w;
 *   json_writer_init_file(&w, stdout, 0);
 *   json_begin_object(&w);
 *   json_field_int(&w, "epoch", 3);
 *   json_field_double(&w, "loss", 0.25);
 *   json_end_object(&w);
 *   json_writer_finish(&w, &err);      // {"epoch":3,"loss":0.25} and a newline
 *
 * Doubles are written with the fewest digits (at most 17) that read back to the same double,
 * with ".0" added when they would look like integers; NaN and infinities are written as null
 * (JSON has no such numbers). Strings are escaped (quote, backslash, control characters as
 * \n, \t or \u00XX, also DEL and U+0080..U+009F so YAML readers accept the text); other UTF-8
 * passes through unchanged. Misuse (a value in an object without a
 * key, unbalanced ends, nesting deeper than JSON_MAX_DEPTH) and write errors are remembered and
 * reported by json_writer_finish. */
#ifndef DPKIT_COMMON_JSON_H
#define DPKIT_COMMON_JSON_H

#include "common/error.h"

#include <stddef.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct json_writer {
    FILE *out;       /* destination; a memory stream in string mode */
    char *buffer;    /* string mode: the text written so far (see json_writer_string) */
    size_t length;
    int string_mode;
    int indent;      /* spaces per nesting level; 0 writes one line */
    int depth;
    int count[JSON_MAX_DEPTH + 1];       /* values written at each level, for commas */
    char container[JSON_MAX_DEPTH + 1];  /* '{' or '[' at each level */
    int after_key;
    const char *problem; /* first misuse, NULL if none */
} json_writer;

/* The writer does not own `out`. indent 0: compact single line (metrics.jsonl). */
void json_writer_init_file(json_writer *w, FILE *out, int indent);
/* Writes into a growable string; returns -1 when out of memory. Release with json_writer_free. */
int json_writer_init_string(json_writer *w, int indent);
/* Ends the top-level value: checks it is complete and nothing failed, writes a newline and
 * flushes. The writer can then write the next top-level value (one JSON document per line). */
int json_writer_finish(json_writer *w, dpkit_error *err);
/* String mode: the text so far (valid until the next write or json_writer_free). */
const char *json_writer_string(json_writer *w);
void json_writer_free(json_writer *w);
/* text as a JSON string, quotes included; control characters, DEL and the C1 controls escaped
 * as \uXXXX, so the result is also a YAML double-quoted scalar that YAML readers accept. */
void json_write_quoted(FILE *out, const char *text);

/* A document written to a file as a whole: json_document_begin opens a string writer (indent 2)
 * and the top-level object (on failure: "WHAT: out of memory"); json_document_write closes the
 * object, writes the text to path atomically and frees the writer (0 or -1). */
int json_document_begin(json_writer *w, const char *what, dpkit_error *err);
int json_document_write(json_writer *w, const char *path, dpkit_error *err);

void json_begin_object(json_writer *w);
void json_end_object(json_writer *w);
void json_begin_array(json_writer *w);
void json_end_array(json_writer *w);
void json_key(json_writer *w, const char *key);

void json_string(json_writer *w, const char *value); /* NULL writes null */
void json_int(json_writer *w, long long value);
void json_double(json_writer *w, double value);
void json_bool(json_writer *w, int value);
void json_null(json_writer *w);

/* key and value in one call */
void json_field_string(json_writer *w, const char *key, const char *value);
void json_field_int(json_writer *w, const char *key, long long value);
void json_field_double(json_writer *w, const char *key, double value);
void json_field_bool(json_writer *w, const char *key, int value);

/* Shortest round-trip text of a double as described above ("null" if not finite); returns the
 * length. size 32 is always enough. */
size_t json_format_double(double value, char *text, size_t size);

#endif
