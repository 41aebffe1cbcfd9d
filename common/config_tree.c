/* Generic YAML/JSON tree for configs: libyaml's event stream turned into map/sequence/scalar
 * nodes that keep their line numbers, path lookups and strict scalar conversions. */
#include "common/config.h"
#include "common/config_tree_internal.h"
#include "common/memory.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Deeper documents are rejected: no config nests this far, and freeing recurses. */
#define MAX_DEPTH 64

typedef struct open_node {
    config_node *node;
    char *pending_key; /* map: key read, value not yet */
    int pending_key_line;
} open_node;

typedef struct tree_builder {
    const char *source;
    const char *root_path;
    config_node *root;
    open_node stack[MAX_DEPTH];
    int depth;
    int documents;
} tree_builder;

static void free_nodes(config_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->count; i++)
        free_nodes(node->children[i]);
    MEMORY_FREE_ALL(node->children, node->value, node->key, node->path, node);
}

void config_node_free(config_node *root)
{
    if (!root)
        return;
    char *source = (char *)root->source;
    free_nodes(root);
    free(source);
}

int config_node_error(const config_node *node, dpkit_error *err, const char *format, ...)
{
    char message[DPKIT_ERROR_MESSAGE_SIZE];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    char where[512];
    if (node->line > 0)
        snprintf(where, sizeof where, "%s:%d", node->source, node->line);
    else
        snprintf(where, sizeof where, "%s", node->source);
    if (node->path && node->path[0])
        return error_set(err, "%s: %s: %s", where, node->path, message);
    return error_set(err, "%s: %s", where, message);
}

static char *join_path(const char *parent, const char *key, long index)
{
    size_t n = strlen(parent) + (key ? strlen(key) : 24) + 4;
    char *path = malloc(n);
    if (!path)
        return NULL;
    if (key)
        snprintf(path, n, "%s%s%s", parent, parent[0] ? "." : "", key);
    else
        snprintf(path, n, "%s[%ld]", parent, index);
    return path;
}

static int builder_error(tree_builder *b, const yaml_event_t *event, dpkit_error *err,
                         const char *message)
{
    return error_set(err, "%s:%lu: %s", b->source, (unsigned long)event->start_mark.line + 1,
                     message);
}

static int add_child(config_node *parent, config_node *child)
{
    /* the capacity is 4, then doubles whenever count reaches a power of two */
    size_t n = parent->count;
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t capacity = n ? 2 * n : 4;
        config_node **grown = realloc(parent->children, capacity * sizeof *grown);
        if (!grown)
            return -1;
        parent->children = grown;
    }
    parent->children[parent->count++] = child;
    return 0;
}

/* Creates a node for the event and hangs it under the open container (or makes it the root). */
static config_node *attach_node(tree_builder *b, const yaml_event_t *event, config_node_kind kind,
                                dpkit_error *err)
{
    config_node *node = calloc(1, sizeof *node);
    if (!node) {
        error_set(err, "%s: out of memory", b->source);
        return NULL;
    }
    node->kind = kind;
    node->line = (int)event->start_mark.line + 1;
    node->source = b->source;
    if (b->depth == 0) {
        node->path = strdup(b->root_path);
        b->root = node;
        if (!node->path) {
            error_set(err, "%s: out of memory", b->source);
            return NULL;
        }
        return node;
    }
    open_node *top = &b->stack[b->depth - 1];
    config_node *parent = top->node;
    if (parent->kind == CONFIG_NODE_MAP) {
        node->key = top->pending_key;
        node->key_line = top->pending_key_line;
        top->pending_key = NULL;
        node->path = join_path(parent->path, node->key, 0);
    } else {
        node->path = join_path(parent->path, NULL, (long)parent->count);
    }
    if (!node->path || add_child(parent, node) != 0) {
        free_nodes(node);
        error_set(err, "%s: out of memory", b->source);
        return NULL;
    }
    return node;
}

static int handle_scalar(tree_builder *b, const yaml_event_t *event, dpkit_error *err)
{
    const char *text = (const char *)event->data.scalar.value;
    if (b->depth > 0) {
        open_node *top = &b->stack[b->depth - 1];
        if (top->node->kind == CONFIG_NODE_MAP && !top->pending_key) {
            for (size_t i = 0; i < top->node->count; i++)
                if (strcmp(top->node->children[i]->key, text) == 0) {
                    char message[512];
                    snprintf(message, sizeof message, "duplicate key '%s' (first at line %d)",
                             text, top->node->children[i]->key_line);
                    return builder_error(b, event, err, message);
                }
            top->pending_key = strdup(text);
            top->pending_key_line = (int)event->start_mark.line + 1;
            return top->pending_key ? 0 : error_set(err, "%s: out of memory", b->source);
        }
    }
    config_node *node = attach_node(b, event, CONFIG_NODE_SCALAR, err);
    if (!node)
        return -1;
    node->quoted = event->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    node->value = strdup(text);
    return node->value ? 0 : error_set(err, "%s: out of memory", b->source);
}

static int handle_start(tree_builder *b, const yaml_event_t *event, config_node_kind kind,
                        dpkit_error *err)
{
    if (b->depth > 0) {
        open_node *top = &b->stack[b->depth - 1];
        if (top->node->kind == CONFIG_NODE_MAP && !top->pending_key)
            return builder_error(b, event, err, "map keys must be scalars");
    }
    if (b->depth == MAX_DEPTH)
        return builder_error(b, event, err, "nested too deeply (more than 64 levels)");
    config_node *node = attach_node(b, event, kind, err);
    if (!node)
        return -1;
    b->stack[b->depth++] = (open_node){node, NULL, 0};
    return 0;
}

static int handle_event(tree_builder *b, const yaml_event_t *event, dpkit_error *err)
{
    switch (event->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0)
            return builder_error(b, event, err, "more than one YAML document (---) in the file");
        return 0;
    case YAML_SCALAR_EVENT:
        return handle_scalar(b, event, err);
    case YAML_MAPPING_START_EVENT:
        return handle_start(b, event, CONFIG_NODE_MAP, err);
    case YAML_SEQUENCE_START_EVENT:
        return handle_start(b, event, CONFIG_NODE_SEQUENCE, err);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        b->depth--;
        return 0;
    case YAML_ALIAS_EVENT:
        return builder_error(b, event, err,
                             "anchors and aliases (*name) are not supported in dpkit configs");
    default:
        return 0;
    }
}

static int parser_error(const yaml_parser_t *parser, const char *source, dpkit_error *err)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return error_set(err, "%s: out of memory while parsing", source);
    const char *problem = parser->problem ? parser->problem : "cannot parse";
    if (parser->context)
        return error_set(err, "%s:%lu: malformed YAML: %s (column %lu, %s at line %lu)", source,
                         (unsigned long)parser->problem_mark.line + 1, problem,
                         (unsigned long)parser->problem_mark.column + 1, parser->context,
                         (unsigned long)parser->context_mark.line + 1);
    return error_set(err, "%s:%lu: malformed YAML: %s (column %lu)", source,
                     (unsigned long)parser->problem_mark.line + 1, problem,
                     (unsigned long)parser->problem_mark.column + 1);
}

static int build_tree(yaml_parser_t *parser, tree_builder *b, dpkit_error *err)
{
    for (;;) {
        yaml_event_t event;
        if (!yaml_parser_parse(parser, &event))
            return parser_error(parser, b->source, err);
        int status = handle_event(b, &event, err);
        int done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
        if (status != 0)
            return -1;
        if (done)
            return 0;
    }
}

int config_tree_parse(FILE *file, const char *text, const char *source_name, const char *root_path,
                      config_node **root, dpkit_error *err)
{
    *root = NULL;
    tree_builder b = {0};
    char *source = strdup(source_name);
    if (!source)
        return error_set(err, "%s: out of memory", source_name);
    b.source = source;
    b.root_path = root_path;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(source);
        return error_set(err, "%s: cannot initialize the YAML parser", source_name);
    }
    if (file)
        yaml_parser_set_input_file(&parser, file);
    else
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    int status = build_tree(&parser, &b, err);
    yaml_parser_delete(&parser);
    for (int i = 0; i < b.depth; i++)
        free(b.stack[i].pending_key);
    if (status != 0 || !b.root) {
        free_nodes(b.root);
        free(source);
        return status;
    }
    *root = b.root;
    return 0;
}

int config_parse_file(const char *path, config_node **root, dpkit_error *err)
{
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    int status = config_tree_parse(f, NULL, path, "", root, err);
    fclose(f);
    return status;
}

int config_parse_string(const char *text, const char *source_name, config_node **root,
                        dpkit_error *err)
{
    return config_tree_parse(NULL, text, source_name, "", root, err);
}

const config_node *config_node_find(const config_node *node, const char *path)
{
    const char *p = path;
    while (node && *p) {
        if (*p == '[') {
            char *end;
            errno = 0;
            unsigned long index = strtoul(p + 1, &end, 10);
            if (end == p + 1 || *end != ']' || errno || node->kind != CONFIG_NODE_SEQUENCE)
                return NULL;
            node = config_node_item(node, index);
            p = end + 1;
        } else {
            size_t n = strcspn(p, ".[");
            if (node->kind != CONFIG_NODE_MAP)
                return NULL;
            const config_node *found = NULL;
            for (size_t i = 0; i < node->count && !found; i++)
                if (strlen(node->children[i]->key) == n &&
                    strncmp(node->children[i]->key, p, n) == 0)
                    found = node->children[i];
            node = found;
            p += n;
        }
        if (*p == '.')
            p++;
    }
    return node;
}

size_t config_node_length(const config_node *node)
{
    return node && node->kind != CONFIG_NODE_SCALAR ? node->count : 0;
}

const config_node *config_node_item(const config_node *node, size_t index)
{
    if (!node || node->kind == CONFIG_NODE_SCALAR || index >= node->count)
        return NULL;
    return node->children[index];
}

int config_node_is_null(const config_node *node)
{
    if (!node || node->kind != CONFIG_NODE_SCALAR || node->quoted)
        return 0;
    const char *v = node->value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Rejects maps, sequences and nulls where a scalar of type `what` is expected. */
static int expect_scalar(const config_node *node, const char *what, dpkit_error *err)
{
    if (node->kind == CONFIG_NODE_MAP)
        return config_node_error(node, err, "expected %s, got a map", what);
    if (node->kind == CONFIG_NODE_SEQUENCE)
        return config_node_error(node, err, "expected %s, got a list", what);
    if (config_node_is_null(node))
        return config_node_error(node, err, "expected %s, got null", what);
    return 0;
}

/* Decimal notation only: no hex, no inf/nan words, no spaces. */
static int looks_decimal(const char *text)
{
    int digits = 0;
    for (const char *c = text; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digits++;
        else if (!strchr("+-.eE", *c))
            return 0;
    }
    return digits > 0;
}

int config_node_double(const config_node *node, double *value, dpkit_error *err)
{
    if (expect_scalar(node, "a number", err) != 0)
        return -1;
    char *end;
    double parsed = looks_decimal(node->value) ? strtod(node->value, &end) : 0;
    if (!looks_decimal(node->value) || *end != '\0')
        return config_node_error(node, err, "expected a number, got '%s'", node->value);
    if (!isfinite(parsed))
        return config_node_error(node, err, "number out of range, got '%s'", node->value);
    *value = parsed;
    return 0;
}

int config_node_int(const config_node *node, long *value, dpkit_error *err)
{
    if (expect_scalar(node, "an integer", err) != 0)
        return -1;
    const char *text = node->value;
    if (!looks_decimal(text))
        return config_node_error(node, err, "expected an integer, got '%s'", text);
    char *end;
    errno = 0;
    long parsed = strtol(text, &end, 10);
    if (*end == '\0') {
        if (errno == ERANGE)
            return config_node_error(node, err, "integer out of range, got '%s'", text);
        *value = parsed;
        return 0;
    }
    /* 1e3 or 4096.0 name exact integers too */
    double real = strtod(text, &end);
    if (*end != '\0' || !isfinite(real) || real != floor(real))
        return config_node_error(node, err, "expected an integer, got '%s'", text);
    if (!(real >= -0x1p63 && real < 0x1p63))
        return config_node_error(node, err, "integer out of range, got '%s'", text);
    *value = (long)real;
    return 0;
}

int config_node_bool(const config_node *node, int *value, dpkit_error *err)
{
    if (expect_scalar(node, "true or false", err) != 0)
        return -1;
    static const char *const truths[] = {"true", "yes", "on"};
    static const char *const falsehoods[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(node->value, truths[i]) == 0) {
            *value = 1;
            return 0;
        }
        if (strcasecmp(node->value, falsehoods[i]) == 0) {
            *value = 0;
            return 0;
        }
    }
    return config_node_error(node, err, "expected true or false, got '%s'", node->value);
}
