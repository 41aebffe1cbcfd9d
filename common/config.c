/* Typed configs: validation of a parsed YAML tree against a static schema (fragments, ranges),
 * defaults, --set overrides, getters by dotted path, and writing the resolved config back as
 * YAML. */
#include "common/config.h"
#include "common/config_tree_internal.h"
#include "common/json.h"
#include "common/log.h"
#include "common/memory.h"
#include "common/spelling.h"
#include "common/textfile.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct config_value {
    int explicit; /* given in the file or by an override */
    int line;     /* where it was given in the file (0 otherwise) */
    char *origin; /* "--set key=value" when the last value came from an override */
    char *text;   /* strings and enums */
    long int_value;
    double double_value;
    int bool_value;
    size_t item_count; /* lists */
    config **items;
} config_value;

struct config {
    config_field *schema; /* the schema with its fragments expanded (owned) */
    size_t count;         /* fields in the schema, values in the same order */
    config_value *values;
    char *source; /* for messages about missing keys */
    int deferring; /* while reading the file: ranges are checked after the overrides */
};

/* ---- schema lookups ---- */

static int in_choices(const char *choices, const char *value);

/* A range "MIN..MAX" read for `type`; an end left out is absent (has_min/has_max 0). */
typedef struct range {
    int has_min, has_max;
    long int_min, int_max;
    double min, max;
} range;

static int parse_bound(const char *text, size_t length, config_type type, long *int_value,
                       double *value)
{
    char buffer[64];
    if (length == 0 || length >= sizeof buffer)
        return -1;
    memcpy(buffer, text, length);
    buffer[length] = '\0';
    char *end;
    errno = 0;
    if (type == CONFIG_INT) {
        *int_value = strtol(buffer, &end, 10);
        *value = (double)*int_value;
    } else {
        *value = strtod(buffer, &end);
    }
    return end == buffer || *end != '\0' || errno != 0 || !isfinite(*value) ? -1 : 0;
}

static int parse_range(const config_field *field, range *r)
{
    memset(r, 0, sizeof *r);
    const char *text = field->choices;
    const char *dots = text ? strstr(text, "..") : NULL;
    if (!dots)
        return -1;
    size_t left = (size_t)(dots - text), right = strlen(dots + 2);
    if (left > 0 && parse_bound(text, left, field->type, &r->int_min, &r->min) != 0)
        return -1;
    if (right > 0 && parse_bound(dots + 2, right, field->type, &r->int_max, &r->max) != 0)
        return -1;
    r->has_min = left > 0;
    r->has_max = right > 0;
    if (r->has_min && r->has_max &&
        (field->type == CONFIG_INT ? r->int_min > r->int_max : r->min > r->max))
        return -1;
    return 0;
}

static int has_range(const config_field *field)
{
    return (field->type == CONFIG_INT || field->type == CONFIG_DOUBLE) && field->choices;
}

/* The fields of a schema with its fragments expanded and CONFIG_DEFAULT rows applied. */
typedef struct field_list {
    config_field *fields;
    size_t count, capacity;
} field_list;

static int field_list_add(field_list *list, const config_field *field, dpkit_error *err)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->fields[i].path, field->path) == 0)
            return error_set(err, "schema error: key '%s' listed twice", field->path);
    if (has_range(field)) {
        range r;
        if (parse_range(field, &r) != 0)
            return error_set(err, "schema error: %s: range '%s', expected MIN..MAX", field->path,
                             field->choices);
    }
    if (memory_grow((void **)&list->fields, &list->capacity, list->count, sizeof *list->fields,
                    32))
        return error_set(err, "schema: out of memory");
    list->fields[list->count++] = *field;
    return 0;
}

static int flatten(const config_field *schema, field_list *list, int depth, dpkit_error *err)
{
    if (depth > 8)
        return error_set(err, "schema error: fragments included more than 8 deep");
    for (const config_field *f = schema; f->path; f++) {
        if (f->type == CONFIG_DEFAULT) {
            size_t i = 0;
            while (i < list->count && strcmp(list->fields[i].path, f->path) != 0)
                i++;
            if (i == list->count)
                return error_set(err, "schema error: new default for '%s', which is not listed "
                                      "above it", f->path);
            list->fields[i].default_value = f->default_value;
            if (f->help)
                list->fields[i].help = f->help;
            continue;
        }
        if (f->type != CONFIG_INCLUDE) {
            if (field_list_add(list, f, err) != 0)
                return -1;
            continue;
        }
        if (!f->items)
            return error_set(err, "schema error: include of '%s' without a fragment", f->path);
        field_list fragment = {0};
        int status = flatten(f->items, &fragment, depth + 1, err);
        int all = strcmp(f->path, "*") == 0;
        /* every key named must be in the fragment: a typo would silently drop a key */
        for (const char *c = f->path; status == 0 && !all && *c;) {
            size_t length = strcspn(c, "|");
            size_t i = 0;
            while (i < fragment.count && !(strlen(fragment.fields[i].path) == length &&
                                           strncmp(fragment.fields[i].path, c, length) == 0))
                i++;
            if (i == fragment.count)
                status = error_set(err, "schema error: included key '%.*s' is not in the "
                                        "fragment", (int)length, c);
            c += length + (c[length] == '|');
        }
        for (size_t i = 0; status == 0 && i < fragment.count; i++)
            if (all || in_choices(f->path, fragment.fields[i].path))
                status = field_list_add(list, &fragment.fields[i], err);
        free(fragment.fields);
        if (status != 0)
            return -1;
    }
    return 0;
}

static long field_index(const config *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->count; i++)
        if (strcmp(cfg->schema[i].path, path) == 0)
            return (long)i;
    return -1;
}

/* 1 if path names a group of keys ("training" or "training.optimizer"). */
static int is_group(const config *cfg, const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < cfg->count; i++)
        if (strncmp(cfg->schema[i].path, path, n) == 0 && cfg->schema[i].path[n] == '.')
            return 1;
    return 0;
}

/* The closest key or group to an unknown one, or a key elsewhere with the same last name
 * ("lr" -> "training.optimizer.lr"); "" if nothing is close. */
static void suggest(const config *cfg, const char *unknown, char *out, size_t size)
{
    out[0] = '\0';
    size_t best = spelling_tolerance(unknown);
    for (size_t i = 0; i < cfg->count; i++) {
        const char *path = cfg->schema[i].path;
        /* the key itself and each group above it */
        for (size_t n = strlen(path); n > 0; n--) {
            if (path[n] != '\0' && path[n] != '.')
                continue;
            char candidate[256];
            if (n >= sizeof candidate)
                continue;
            memcpy(candidate, path, n);
            candidate[n] = '\0';
            size_t d = spelling_distance(unknown, candidate);
            if (d <= best && (d < best || !out[0])) {
                best = d;
                snprintf(out, size, "%s", candidate);
            }
        }
    }
    if (out[0])
        return;
    for (size_t i = 0; i < cfg->count; i++) {
        const char *dot = strrchr(cfg->schema[i].path, '.');
        if (dot && strcmp(dot + 1, unknown) == 0) {
            snprintf(out, size, "%s", cfg->schema[i].path);
            return;
        }
    }
}

/* "where: unknown key 'shown' (did you mean 'x'?)"; shown ends with the schema-relative path;
 * where may be NULL. */
static int unknown_key_error(const config *cfg, const char *where, const char *shown,
                             const char *relative, dpkit_error *err)
{
    char suggestion[256];
    suggest(cfg, relative, suggestion, sizeof suggestion);
    const char *separator = where ? ": " : "";
    if (!where)
        where = "";
    if (!suggestion[0])
        return error_set(err, "%s%sunknown key '%s'", where, separator, shown);
    int parent_length = (int)(strlen(shown) - strlen(relative));
    return error_set(err, "%s%sunknown key '%s' (did you mean '%.*s%s'?)", where, separator,
                     shown, parent_length, shown, suggestion);
}

/* ---- values ---- */

static config *config_new(const config_field *schema, const char *source, dpkit_error *err)
{
    config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        error_set(err, "%s: out of memory", source);
        return NULL;
    }
    field_list list = {0};
    if (flatten(schema, &list, 0, err) != 0) {
        free(list.fields);
        free(cfg);
        return NULL;
    }
    cfg->schema = list.fields;
    cfg->count = list.count;
    cfg->values = calloc(cfg->count ? cfg->count : 1, sizeof *cfg->values);
    cfg->source = strdup(source);
    if (!cfg->values || !cfg->source) {
        MEMORY_FREE_ALL(cfg->values, cfg->source, cfg->schema, cfg);
        error_set(err, "%s: out of memory", source);
        return NULL;
    }
    return cfg;
}

static void free_items(config **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        config_free(items[i]);
    free(items);
}

void config_free(config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->count; i++) {
        free(cfg->values[i].text);
        free(cfg->values[i].origin);
        free_items(cfg->values[i].items, cfg->values[i].item_count);
    }
    MEMORY_FREE_ALL(cfg->values, cfg->source, cfg->schema, cfg);
}

static int in_choices(const char *choices, const char *value)
{
    size_t n = strlen(value);
    for (const char *c = choices; c && *c;) {
        size_t length = strcspn(c, "|");
        if (length == n && strncmp(c, value, n) == 0)
            return 1;
        c += length + (c[length] == '|');
    }
    return 0;
}

static int apply_defaults(config *cfg, dpkit_error *err);
static int fill_from_map(config *cfg, const config_node *map, const char *prefix,
                         dpkit_error *err);
static int check_required(const config *cfg, const config_node *where, dpkit_error *err);

/* "a map", "a list", "null" or "a single value", for "expected X, got Y" messages. */
static const char *kind_name(const config_node *node)
{
    if (node->kind == CONFIG_NODE_MAP)
        return "a map";
    if (node->kind == CONFIG_NODE_SEQUENCE)
        return "a list";
    return config_node_is_null(node) ? "null" : "a single value";
}

static int set_list(config_value *value, const config_field *field, const config_node *node,
                    dpkit_error *err)
{
    if (node->kind != CONFIG_NODE_SEQUENCE)
        return config_node_error(node, err, "expected a list of maps, got %s", kind_name(node));
    if (!field->items)
        return config_node_error(node, err, "schema error: list without an item schema");
    config **items = calloc(node->count ? node->count : 1, sizeof *items);
    if (!items)
        return error_set(err, "%s: out of memory", node->source);
    for (size_t i = 0; i < node->count; i++) {
        const config_node *child = node->children[i];
        if (child->kind != CONFIG_NODE_MAP) {
            free_items(items, i);
            return config_node_error(child, err, "expected a map (e.g. {%s: ...}), got %s",
                                     field->items[0].path ? field->items[0].path : "key",
                                     kind_name(child));
        }
        items[i] = config_new(field->items, node->source, err);
        if (!items[i] || apply_defaults(items[i], err) != 0 ||
            fill_from_map(items[i], child, "", err) != 0 ||
            check_required(items[i], child, err) != 0) {
            free_items(items, i + 1);
            return -1;
        }
    }
    free_items(value->items, value->item_count);
    value->items = items;
    value->item_count = node->count;
    return 0;
}

/* A number outside the field's range: "where: key: VALUE, expected 1..8" (VALUE as written). */
static int check_range(const config_field *field, const config_node *node, double value,
                       long int_value, dpkit_error *err)
{
    range r;
    if (!has_range(field) || parse_range(field, &r) != 0)
        return 0; /* malformed ranges are rejected when the schema is expanded */
    int below, above;
    if (field->type == CONFIG_INT) {
        below = r.has_min && int_value < r.int_min;
        above = r.has_max && int_value > r.int_max;
    } else {
        below = r.has_min && value < r.min;
        above = r.has_max && value > r.max;
    }
    if (!below && !above)
        return 0;
    const char *text = field->choices, *dots = strstr(text, "..");
    if (r.has_min && r.has_max)
        return config_node_error(node, err, "%s, expected %s", node->value, text);
    if (r.has_min)
        return config_node_error(node, err, "%s, expected >= %.*s", node->value,
                                 (int)(dots - text), text);
    return config_node_error(node, err, "%s, expected <= %s", node->value, dots + 2);
}

/* Converts and stores one value; on error the old value is kept. */
static int set_value(config *cfg, size_t index, const config_node *node, dpkit_error *err)
{
    const config_field *field = &cfg->schema[index];
    config_value *value = &cfg->values[index];
    switch (field->type) {
    case CONFIG_INT:
    case CONFIG_DOUBLE: {
        long i = 0;
        double d = 0;
        if ((field->type == CONFIG_INT ? config_node_int(node, &i, err)
                                       : config_node_double(node, &d, err)) != 0)
            return -1;
        if (field->type == CONFIG_INT)
            d = (double)i;
        if (!cfg->deferring && check_range(field, node, d, i, err) != 0)
            return -1;
        char *text = strdup(node->value); /* as written, for a later range message */
        if (!text)
            return error_set(err, "%s: out of memory", node->source);
        free(value->text);
        value->text = text;
        value->int_value = i;
        value->double_value = d;
        return 0;
    }
    case CONFIG_BOOL:
        return config_node_bool(node, &value->bool_value, err);
    case CONFIG_STRING:
    case CONFIG_ENUM: {
        if (node->kind != CONFIG_NODE_SCALAR || config_node_is_null(node))
            return config_node_error(node, err, "expected %s, got %s",
                                     field->type == CONFIG_ENUM ? "one of the names" : "a string",
                                     kind_name(node));
        if (field->type == CONFIG_ENUM && !in_choices(field->choices, node->value)) {
            /* "a|b|c" -> "a, b, c" */
            char allowed[512];
            size_t n = 0;
            for (const char *c = field->choices ? field->choices : ""; *c && n + 3 < sizeof allowed;
                 c++) {
                if (*c == '|') {
                    allowed[n++] = ',';
                    allowed[n++] = ' ';
                } else {
                    allowed[n++] = *c;
                }
            }
            allowed[n] = '\0';
            return config_node_error(node, err, "expected one of %s, got '%s'", allowed,
                                     node->value);
        }
        char *text = strdup(node->value);
        if (!text)
            return error_set(err, "%s: out of memory", node->source);
        free(value->text);
        value->text = text;
        return 0;
    }
    case CONFIG_LIST:
        return set_list(value, field, node, err);
    case CONFIG_INCLUDE:
    case CONFIG_DEFAULT:
        break; /* expanded by flatten */
    }
    return error_set(err, "%s: schema error: unknown type", field->path);
}

/* A scalar node standing for a value that is not in a file (a default or an override). */
static config_node text_node(const char *text, const char *path, const char *source)
{
    config_node node = {0};
    node.kind = CONFIG_NODE_SCALAR;
    node.value = (char *)text;
    node.quoted = 1; /* taken literally: an empty text is an empty string, not null */
    node.path = (char *)path;
    node.source = source;
    return node;
}

/* Lines inside an override's value are those of a one-line text: leave them out. */
static void clear_lines(config_node *node)
{
    node->line = 0;
    node->key_line = 0;
    for (size_t i = 0; i < node->count; i++)
        clear_lines(node->children[i]);
}

/* Sets field `index` from text: parsed as YAML for lists, taken literally otherwise. */
static int set_from_text(config *cfg, size_t index, const char *text, const char *path,
                         const char *source, dpkit_error *err)
{
    if (cfg->schema[index].type != CONFIG_LIST) {
        config_node node = text_node(text, path, source);
        return set_value(cfg, index, &node, err);
    }
    config_node *root;
    if (config_tree_parse(NULL, text, source, path, &root, err) != 0)
        return -1;
    int status;
    if (root) {
        clear_lines(root);
        status = set_value(cfg, index, root, err);
    } else {
        config_node empty = text_node("", path, source);
        empty.quoted = 0;
        status = set_value(cfg, index, &empty, err);
    }
    config_node_free(root);
    return status;
}

static int apply_defaults(config *cfg, dpkit_error *err)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const config_field *field = &cfg->schema[i];
        if (field->default_value &&
            set_from_text(cfg, i, field->default_value, field->path, "schema default", err) != 0)
            return -1;
        cfg->values[i].explicit = 0;
    }
    return 0;
}

/* Walks a map of the file: each key is a schema key, a group of keys, or unknown. Dotted keys
 * ("training.epochs: 5") work like nested ones. */
static int fill_from_map(config *cfg, const config_node *map, const char *prefix,
                         dpkit_error *err)
{
    for (size_t i = 0; i < map->count; i++) {
        const config_node *child = map->children[i];
        char *relative;
        if (asprintf(&relative, "%s%s%s", prefix, prefix[0] ? "." : "", child->key) < 0)
            return error_set(err, "%s: out of memory", map->source);
        char where[512];
        if (child->key_line > 0)
            snprintf(where, sizeof where, "%s:%d", child->source, child->key_line);
        else
            snprintf(where, sizeof where, "%s", child->source);
        long index = field_index(cfg, relative);
        int status = 0;
        if (index >= 0) {
            config_value *value = &cfg->values[index];
            if (value->explicit)
                status = error_set(err, "%s: '%s' given twice (first at line %d)", where,
                                   child->path, value->line);
            else if ((status = set_value(cfg, (size_t)index, child, err)) == 0) {
                value->explicit = 1;
                value->line = child->key_line;
            }
        } else if (is_group(cfg, relative)) {
            if (child->kind == CONFIG_NODE_MAP)
                status = fill_from_map(cfg, child, relative, err);
            else if (!config_node_is_null(child))
                status = config_node_error(child, err, "expected a map of keys (%s.*), got %s",
                                           child->path, kind_name(child));
        } else {
            status = unknown_key_error(cfg, where, child->path, relative, err);
        }
        free(relative);
        if (status != 0)
            return -1;
    }
    return 0;
}

/* The ranges of the values read from the file and not overridden since: an override may
 * replace a file value the range rejects, as it may supply a required key. */
static int check_file_ranges(const config *cfg, dpkit_error *err)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const config_field *field = &cfg->schema[i];
        const config_value *value = &cfg->values[i];
        if (!has_range(field) || !value->explicit || value->origin || !value->text)
            continue;
        config_node node = {0};
        node.kind = CONFIG_NODE_SCALAR;
        node.value = value->text;
        node.line = value->line;
        node.path = (char *)field->path;
        node.source = cfg->source;
        if (check_range(field, &node, value->double_value, value->int_value, err) != 0)
            return -1;
    }
    return 0;
}

/* where: the item's node for list items; NULL at the top level. */
static int check_required(const config *cfg, const config_node *where, dpkit_error *err)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const config_field *field = &cfg->schema[i];
        if (field->default_value || cfg->values[i].explicit)
            continue;
        if (where)
            return config_node_error(where, err, "missing required key '%s' (%s)", field->path,
                                     field->help ? field->help : "no default");
        return error_set(err, "%s: missing required key '%s' (%s)", cfg->source, field->path,
                         field->help ? field->help : "no default");
    }
    return 0;
}

/* ---- loading and overrides ---- */

int config_load_with_overrides(const char *path, const config_field *schema,
                               const char *const *assignments, size_t assignment_count,
                               config **out, dpkit_error *err)
{
    *out = NULL;
    config *cfg = config_new(schema, path ? path : "config", err);
    if (!cfg)
        return -1;
    if (apply_defaults(cfg, err) != 0) {
        config_free(cfg);
        return -1;
    }
    if (path) {
        config_node *root;
        if (config_parse_file(path, &root, err) != 0) {
            config_free(cfg);
            return -1;
        }
        int status = 0;
        if (root && root->kind != CONFIG_NODE_MAP && !config_node_is_null(root))
            status = config_node_error(root, err, "expected a map of keys at the top, got %s",
                                       kind_name(root));
        else if (root && root->kind == CONFIG_NODE_MAP) {
            cfg->deferring = 1;
            status = fill_from_map(cfg, root, "", err);
            cfg->deferring = 0;
        }
        config_node_free(root);
        if (status != 0) {
            config_free(cfg);
            return -1;
        }
    }
    for (size_t i = 0; i < assignment_count; i++)
        if (config_set_assignment(cfg, assignments[i], err) != 0) {
            config_free(cfg);
            return -1;
        }
    if (check_file_ranges(cfg, err) != 0 || check_required(cfg, NULL, err) != 0) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_load(const char *path, const config_field *schema, config **cfg, dpkit_error *err)
{
    return config_load_with_overrides(path, schema, NULL, 0, cfg, err);
}

/* Finds the config (cfg or a list item) and field index that `path` names, following
 * "list[i].key". On failure writes the reason (without location) into err. */
static int resolve(const config *cfg, const char *path, config **target, size_t *index,
                   dpkit_error *err)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const config_field *field = &cfg->schema[i];
        size_t n = strlen(field->path);
        if (strncmp(path, field->path, n) != 0)
            continue;
        if (path[n] == '\0') {
            *target = (config *)cfg;
            *index = i;
            return 0;
        }
        if (path[n] != '[' || field->type != CONFIG_LIST)
            continue;
        char *end;
        unsigned long item = strtoul(path + n + 1, &end, 10);
        if (end == path + n + 1 || end[0] != ']' || end[1] != '.' || path[n + 1] == '-')
            return error_set(err, "'%s': expected %s[INDEX].KEY", path, field->path);
        const config_value *value = &cfg->values[i];
        if (item >= value->item_count)
            return error_set(err, "'%s': %s has %zu items, no item %lu", path, field->path,
                             value->item_count, item);
        return resolve(value->items[item], end + 2, target, index, err);
    }
    if (is_group(cfg, path))
        return error_set(err, "'%s' is a group of keys; name one of them (%s.KEY)", path, path);
    return unknown_key_error(cfg, NULL, path, path, err);
}

int config_set(config *cfg, const char *path, const char *value, dpkit_error *err)
{
    char source[512];
    snprintf(source, sizeof source, "--set %s=%s", path, value);
    config *target;
    size_t index;
    if (resolve(cfg, path, &target, &index, err) != 0)
        return error_prefix(err, "%s", source);
    /* surrounding spaces are never part of a value given on the command line */
    size_t start = strspn(value, " \t");
    size_t length = strlen(value + start);
    while (length > 0 && strchr(" \t", value[start + length - 1]))
        length--;
    char *text = strndup(value + start, length);
    if (!text)
        return error_set(err, "%s: out of memory", source);
    int status = set_from_text(target, index, text, path, source, err);
    free(text);
    if (status != 0)
        return -1;
    config_value *stored = &target->values[index];
    char *origin = strdup(source);
    if (!origin)
        return error_set(err, "%s: out of memory", source);
    free(stored->origin);
    stored->origin = origin;
    stored->explicit = 1;
    stored->line = 0;
    return 0;
}

int config_set_assignment(config *cfg, const char *assignment, dpkit_error *err)
{
    const char *equals = strchr(assignment, '=');
    size_t start = strspn(assignment, " \t");
    size_t end = equals ? (size_t)(equals - assignment) : 0;
    while (end > start && strchr(" \t", assignment[end - 1]))
        end--;
    if (!equals || end <= start)
        return error_set(err, "--set '%s': expected KEY=VALUE, e.g. training.epochs=20",
                         assignment);
    char *path = strndup(assignment + start, end - start);
    if (!path)
        return error_set(err, "--set '%s': out of memory", assignment);
    int status = config_set(cfg, path, equals + 1, err);
    free(path);
    return status;
}

void config_where(const config *cfg, const char *path, char *out, size_t size)
{
    config *target;
    size_t index;
    dpkit_error ignored;
    if (!cfg || resolve(cfg, path, &target, &index, &ignored) != 0) {
        snprintf(out, size, "%s", cfg ? cfg->source : "config");
        return;
    }
    const config_value *value = &target->values[index];
    if (value->origin)
        snprintf(out, size, "%s", value->origin);
    else if (value->explicit && value->line > 0)
        snprintf(out, size, "%s:%d", target->source, value->line);
    else
        snprintf(out, size, "%s", target->source);
}

int config_error(const config *cfg, const char *path, dpkit_error *err, const char *format, ...)
{
    char message[DPKIT_ERROR_MESSAGE_SIZE], where[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    config_where(cfg, path, where, sizeof where);
    return error_set(err, "%s: %s: %s", where, path, message);
}

/* ---- getters ---- */

static const config_value *lookup(const config *cfg, const char *path, config_type type,
                                  const char *getter)
{
    config *target;
    size_t index;
    dpkit_error err;
    if (!cfg || resolve(cfg, path, &target, &index, &err) != 0) {
        log_error("%s: %s", getter, cfg ? err.message : "no config");
        return NULL;
    }
    config_type actual = target->schema[index].type;
    if (actual != type && !(type == CONFIG_STRING && actual == CONFIG_ENUM)) {
        log_error("%s: '%s' has another type in the schema", getter, path);
        return NULL;
    }
    return &target->values[index];
}

long config_get_int(const config *cfg, const char *path)
{
    const config_value *value = lookup(cfg, path, CONFIG_INT, "config_get_int");
    return value ? value->int_value : 0;
}

double config_get_double(const config *cfg, const char *path)
{
    const config_value *value = lookup(cfg, path, CONFIG_DOUBLE, "config_get_double");
    return value ? value->double_value : 0.0;
}

int config_get_bool(const config *cfg, const char *path)
{
    const config_value *value = lookup(cfg, path, CONFIG_BOOL, "config_get_bool");
    return value ? value->bool_value : 0;
}

const char *config_get_string(const config *cfg, const char *path)
{
    const config_value *value = lookup(cfg, path, CONFIG_STRING, "config_get_string");
    return value && value->text ? value->text : "";
}

size_t config_list_length(const config *cfg, const char *path)
{
    const config_value *value = lookup(cfg, path, CONFIG_LIST, "config_list_length");
    return value ? value->item_count : 0;
}

const config *config_list_item(const config *cfg, const char *path, size_t index)
{
    const config_value *value = lookup(cfg, path, CONFIG_LIST, "config_list_item");
    if (!value || index >= value->item_count) {
        if (value)
            log_error("config_list_item: %s has %zu items, no item %zu", path,
                      value->item_count, index);
        return NULL;
    }
    return value->items[index];
}

int config_is_explicit(const config *cfg, const char *path)
{
    config *target;
    size_t index;
    dpkit_error err;
    if (!cfg || resolve(cfg, path, &target, &index, &err) != 0) {
        log_error("config_is_explicit: %s", cfg ? err.message : "no config");
        return 0;
    }
    return target->values[index].explicit;
}

/* ---- writing YAML ---- */

/* Plain only what every YAML reader takes as the same string: no numbers, booleans, nulls,
 * dates, indicators or spaces; everything else is double-quoted. */
static int needs_quotes(const char *text)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "y", "n",
                                        "null", "nan", "inf"};
    unsigned char first = (unsigned char)text[0];
    if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '_' ||
          first == '/'))
        return 1;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("_./+-", *c)))
            return 1;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(text, words[i]) == 0)
            return 1;
    return 0;
}

/* A JSON string is a YAML double-quoted scalar (YAML 1.2 reads JSON), with the same escapes. */
static void write_string(FILE *out, const char *text)
{
    if (needs_quotes(text))
        json_write_quoted(out, text);
    else
        fputs(text, out);
}

static void write_indent(FILE *out, int indent, int *dash)
{
    if (*dash) {
        fprintf(out, "%*s- ", indent - 2, "");
        *dash = 0;
    } else {
        fprintf(out, "%*s", indent, "");
    }
}

static void write_group(FILE *out, const config *cfg, const char *prefix, size_t prefix_length,
                        int indent, int *dash, int comments);

static void write_value(FILE *out, const config *cfg, size_t index, int indent, int comments)
{
    const config_field *field = &cfg->schema[index];
    const config_value *value = &cfg->values[index];
    char number[32];
    switch (field->type) {
    case CONFIG_INT: fprintf(out, " %ld", value->int_value); break;
    case CONFIG_DOUBLE: {
        /* YAML 1.1 readers (PyYAML) take a number with an exponent for a float only when it
         * has a '.': 1e-05 would be read as a string, 1.0e-05 is a float. */
        json_format_double(value->double_value, number, sizeof number);
        char *e = strchr(number, 'e');
        if (e && !memchr(number, '.', (size_t)(e - number)))
            fprintf(out, " %.*s.0%s", (int)(e - number), number, e);
        else
            fprintf(out, " %s", number);
        break;
    }
    case CONFIG_BOOL: fputs(value->bool_value ? " true" : " false", out); break;
    case CONFIG_STRING:
    case CONFIG_ENUM:
        fputc(' ', out);
        write_string(out, value->text ? value->text : "");
        break;
    case CONFIG_LIST:
        if (value->item_count == 0)
            fputs(" []", out);
        break;
    case CONFIG_INCLUDE:
    case CONFIG_DEFAULT: break; /* expanded by flatten */
    }
    if (comments && field->help && field->help[0])
        fprintf(out, "  # %s", field->help);
    fputc('\n', out);
    if (field->type == CONFIG_LIST)
        for (size_t i = 0; i < value->item_count; i++) {
            int dash = 1;
            if (value->items[i]->count == 0)
                fprintf(out, "%*s- {}\n", indent + 2, "");
            write_group(out, value->items[i], "", 0, indent + 4, &dash, 0);
        }
}

/* Writes the keys whose path starts with the first prefix_length characters of prefix ("" or
 * "a.b.") in schema order; a group is written where its first key comes, with all its keys, so
 * interleaved schemas still give each map once. */
static void write_group(FILE *out, const config *cfg, const char *prefix, size_t prefix_length,
                        int indent, int *dash, int comments)
{
    for (size_t i = 0; i < cfg->count; i++) {
        const char *path = cfg->schema[i].path;
        if (strncmp(path, prefix, prefix_length) != 0)
            continue;
        const char *rest = path + prefix_length;
        const char *dot = strchr(rest, '.');
        if (!dot) {
            write_indent(out, indent, dash);
            fprintf(out, "%s:", rest);
            write_value(out, cfg, i, indent, comments);
            continue;
        }
        size_t group_length = (size_t)(dot + 1 - path);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(cfg->schema[j].path, path, group_length) == 0;
        if (seen)
            continue;
        write_indent(out, indent, dash);
        fprintf(out, "%.*s:\n", (int)(dot - rest), rest);
        write_group(out, cfg, path, group_length, indent + 2, dash, comments);
    }
}

int config_write_string(const config *cfg, char **text, dpkit_error *err)
{
    *text = NULL;
    size_t length;
    FILE *out = open_memstream(text, &length);
    if (!out)
        return error_set(err, "%s: out of memory writing the config", cfg->source);
    int dash = 0;
    write_group(out, cfg, "", 0, 0, &dash, 1);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(*text);
        *text = NULL;
        return error_set(err, "%s: out of memory writing the config", cfg->source);
    }
    return 0;
}

int config_write_file(const config *cfg, const char *path, dpkit_error *err)
{
    char *text;
    if (config_write_string(cfg, &text, err) != 0)
        return -1;
    int status = textfile_write_atomic(path, text, strlen(text), err);
    free(text);
    return status;
}

/* ---- schema listing ---- */

static void print_fields(FILE *out, const config_field *schema, const char *prefix)
{
    static const char *const type_names[] = {"int", "double", "bool", "string", "enum", "list",
                                             "include", "default"};
    field_list list = {0};
    dpkit_error err;
    if (flatten(schema, &list, 0, &err) != 0) {
        fprintf(out, "  %s%s%s\n", prefix, prefix[0] ? ": " : "", err.message);
        free(list.fields);
        return;
    }
    for (size_t i = 0; i < list.count; i++) {
        const config_field *field = &list.fields[i];
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, field->path);
        char type[128];
        if (field->type == CONFIG_ENUM)
            snprintf(type, sizeof type, "%s", field->choices ? field->choices : "");
        else if (has_range(field))
            snprintf(type, sizeof type, "%s %s", type_names[field->type], field->choices);
        else
            snprintf(type, sizeof type, "%s", type_names[field->type]);
        char default_text[128];
        if (field->default_value)
            snprintf(default_text, sizeof default_text, "= %s", field->default_value);
        else
            snprintf(default_text, sizeof default_text, "(required)");
        fprintf(out, "  %-28s %-10s %-12s %s\n", name, type, default_text,
                field->help ? field->help : "");
        if (field->type == CONFIG_LIST && field->items) {
            char item_prefix[300];
            snprintf(item_prefix, sizeof item_prefix, "%s[].", name);
            print_fields(out, field->items, item_prefix);
        }
    }
    free(list.fields);
}

void config_print_schema(FILE *out, const config_field *schema)
{
    print_fields(out, schema, "");
}

int config_check_schema(const config_field *schema, dpkit_error *err)
{
    config *cfg = config_new(schema, "schema", err);
    if (!cfg)
        return -1;
    int status = apply_defaults(cfg, err);
    for (size_t i = 0; status == 0 && i < cfg->count; i++)
        if (cfg->schema[i].type == CONFIG_LIST && cfg->schema[i].items)
            status = config_check_schema(cfg->schema[i].items, err);
    config_free(cfg);
    return status;
}

int config_get_numbers(const config *cfg, const char *path, double *values, size_t max,
                       size_t *count, dpkit_error *err)
{
    const char *text = config_get_string(cfg, path);
    const char *p = text;
    *count = 0;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) ||
            (*end && *end != ' ' && *end != ',' && *end != '\t'))
            return config_error(cfg, path, err, "'%s' is not a list of numbers", text);
        if (*count == max)
            return config_error(cfg, path, err, "more than %zu values", max);
        values[(*count)++] = v;
        p = end;
    }
    if (*count == 0)
        return config_error(cfg, path, err, "empty list, expected numbers separated by spaces "
                                            "or commas");
    return 0;
}
