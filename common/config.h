/* Configuration files: YAML (and JSON, which is YAML flow syntax) read into a generic tree that
 * keeps line numbers, and typed configs validated against a static table of fields. */
#ifndef DPKIT_COMMON_CONFIG_H
#define DPKIT_COMMON_CONFIG_H

#include "common/error.h"

#include <stddef.h>
#include <stdio.h>

/* ---- Generic tree (any YAML or JSON document) ---- */

typedef enum { CONFIG_NODE_SCALAR, CONFIG_NODE_MAP, CONFIG_NODE_SEQUENCE } config_node_kind;

typedef struct config_node {
    config_node_kind kind;
    char *value;        /* scalar text as written, without quotes; NULL for maps and sequences */
    int quoted;         /* scalar was quoted ("1" is text, 1 may be a number) */
    int line;           /* 1-based line where the node starts; 0 when not from a file */
    char *key;          /* key in the parent map, NULL otherwise */
    int key_line;       /* line of the key */
    char *path;         /* for messages: "model.layers[1].kind" ("" for the root) */
    const char *source; /* file name (or other origin) for messages; owned by the root */
    size_t count;       /* children of a map (entries in file order) or of a sequence */
    struct config_node **children;
} config_node;

/* Parses one document. An empty document gives *root = NULL (not an error). Errors (malformed
 * YAML, duplicate keys, anchors/aliases, nesting deeper than 64) name the source and line. */
int config_parse_file(const char *path, config_node **root, dpkit_error *err);
int config_parse_string(const char *text, const char *source_name, config_node **root,
                        dpkit_error *err);
void config_node_free(config_node *root);

/* Looks up "training.optimizer.lr" or "model.layers[1].kind" below node; NULL if absent. */
const config_node *config_node_find(const config_node *node, const char *path);
/* Children of a map or sequence; 0 / NULL for scalars or an index out of range. */
size_t config_node_length(const config_node *node);
const config_node *config_node_item(const config_node *node, size_t index);

/* Scalar conversions with messages like "file.yaml:7: training.batch_size: expected an integer,
 * got 'abc'". Integers must be exact (2.5 and out-of-range values are rejected; 1e3 is 1000);
 * doubles must be finite decimal numbers (1e-5, 4, -0.5); booleans are true/false, yes/no, on/off
 * (any case). config_node_is_null: an unquoted ~, null or nothing. */
int config_node_int(const config_node *node, long *value, dpkit_error *err);
int config_node_double(const config_node *node, double *value, dpkit_error *err);
int config_node_bool(const config_node *node, int *value, dpkit_error *err);
int config_node_is_null(const config_node *node);

/* ---- Typed configs described by a schema ---- */

typedef enum {
    CONFIG_INT,     /* long */
    CONFIG_DOUBLE,  /* double */
    CONFIG_BOOL,    /* int 0/1 */
    CONFIG_STRING,  /* text */
    CONFIG_ENUM,    /* text, one of `choices` */
    CONFIG_LIST,    /* sequence of maps, each validated against `items` */
    CONFIG_INCLUDE, /* not a key: the keys of the fragment `items` (see below) */
    CONFIG_DEFAULT, /* not a key: a new default (and help) for a key listed above it */
} config_type;

/* One key of a config kind. A schema is a static array of fields ending with {0}, e.g.
 *   static const config_field layer_schema[] = {
 *       {"kind", CONFIG_ENUM, NULL, "layer type", "conv2d|dense", NULL},
 *       {"out", CONFIG_INT, "0", "output channels", "0..4096", NULL},
 *       {0}};
 *   static const config_field train_schema[] = {
 *       {"training.epochs", CONFIG_INT, "60", "passes over the data", "1..100000", NULL},
 *       {"training.optimizer.kind", CONFIG_ENUM, "sgd", "optimizer", "sgd|adam", NULL},
 *       {"privacy.epsilon", CONFIG_DOUBLE, NULL, "target epsilon", "0..", NULL},
 *       {"model.layers", CONFIG_LIST, "[]", "layers of a cnn", NULL, layer_schema},
 *       {0}};
 * Defaults are written as they would appear in the YAML file; NULL means required.
 *
 * Bounds: for CONFIG_INT and CONFIG_DOUBLE, `choices` is the accepted range "MIN..MAX" (both
 * ends included; either may be left out: "0..", "..1"; NULL: any value). Integer bounds are read
 * as integers, so "0..9223372036854775807" is exact. A value outside is rejected where it was
 * given: "file.yaml:7: training.epochs: 0, expected 1..100000" or "--set training.epochs=0:
 * training.epochs: 0, expected 1..100000". A default outside its range is a schema error.
 *
 * Fragments: keys shared by several kinds are defined once, in an array like any schema, and
 * included where they belong (the keys keep their place in the written YAML):
 *       {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_privacy},
 *       {"privacy.delta|privacy.accountant", CONFIG_INCLUDE, NULL, NULL, NULL,
 *        run_config_schema_privacy},               (only these keys of the fragment)
 *       {"privacy.delta", CONFIG_DEFAULT, "1e-7", "delta of the private models", NULL, NULL},
 * A CONFIG_DEFAULT row changes the default of a key listed above it (help too, unless NULL);
 * type and bounds stay the fragment's. Naming a key twice, a key the fragment lacks, or a
 * default for an absent key is a schema error, reported when a config of that kind is loaded. */
typedef struct config_field {
    const char *path;                  /* dotted path ("training.optimizer.lr"), relative to
                                          the item for the fields of a list item; for
                                          CONFIG_INCLUDE "*" or keys separated by '|' */
    config_type type;
    const char *default_value;         /* NULL: required */
    const char *help;                  /* one line */
    const char *choices;               /* CONFIG_ENUM: allowed values separated by '|';
                                          CONFIG_INT, CONFIG_DOUBLE: range "MIN..MAX" */
    const struct config_field *items;  /* CONFIG_LIST: schema of each item;
                                          CONFIG_INCLUDE: the fragment */
} config_field;

/* A validated config: one value per schema field, defaults filled in. */
typedef struct config config;

/* Reads, validates and fills defaults. Errors name the file, the line and the key: unknown
 * keys (with a did-you-mean), wrong types, values outside an enum, missing required keys,
 * malformed YAML. path NULL starts from the defaults alone. */
int config_load(const char *path, const config_field *schema, config **cfg, dpkit_error *err);
/* Same, applying "a.b.c=value" overrides (the CLI's --set) before required keys are checked,
 * so an override can supply a required key the file lacks. */
int config_load_with_overrides(const char *path, const config_field *schema,
                               const char *const *assignments, size_t assignment_count,
                               config **cfg, dpkit_error *err);
void config_free(config *cfg);

/* Overrides one key, validated like a file value; the message names the override. Paths may
 * point into list items ("model.layers[1].out"); a list is replaced by a YAML flow sequence
 * ("[{kind: dense, out: 10}]"). config_set_assignment takes "a.b.c=value". */
int config_set(config *cfg, const char *path, const char *value, dpkit_error *err);
int config_set_assignment(config *cfg, const char *assignment, dpkit_error *err);

/* Typed getters by dotted path (list items as "model.layers[1].out", or through
 * config_list_item). Asking for a path the schema lacks, or with the wrong type, is a
 * programming error: it is logged and 0 / "" is returned. Strings live as long as cfg. */
long config_get_int(const config *cfg, const char *path);
double config_get_double(const config *cfg, const char *path);
int config_get_bool(const config *cfg, const char *path);
const char *config_get_string(const config *cfg, const char *path); /* strings and enums */
/* A string key holding numbers separated by spaces or commas ("0 0.1, 0.3"): at most max
 * finite values into values; an empty or malformed list is an error naming the key. */
int config_get_numbers(const config *cfg, const char *path, double *values, size_t max,
                       size_t *count, dpkit_error *err);
size_t config_list_length(const config *cfg, const char *path);
const config *config_list_item(const config *cfg, const char *path, size_t index);
/* 1 if the key was given in the file or by an override, 0 if it holds its default. */
int config_is_explicit(const config *cfg, const char *path);

/* The resolved config as YAML: every key including defaults, in schema order, with the help
 * as comments. Reading it back gives the same config. The string is malloc'd. */
int config_write_string(const config *cfg, char **text, dpkit_error *err);
int config_write_file(const config *cfg, const char *path, dpkit_error *err); /* atomic */

/* Where the value of `path` comes from, for messages about it: "file.yaml:12" (given in the
 * file), "--set key=value" (an override), or the file (or "config") when it is the default. */
void config_where(const config *cfg, const char *path, char *out, size_t size);
/* Sets err to "WHERE: path: message" (WHERE as config_where) and returns -1: for checks that a
 * schema cannot express (one key against another). */
int config_error(const config *cfg, const char *path, dpkit_error *err, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Lists the keys of a schema (type, range or choices, default, help), e.g. for --print-config.
 * A malformed schema is printed as an error line. */
void config_print_schema(FILE *out, const config_field *schema);
/* Checks a schema (fragments, defaults, ranges) without a file: 0, or -1 with the reason. */
int config_check_schema(const config_field *schema, dpkit_error *err);

#endif
