/* The privacy ledger as JSON (layout in docs/formats/accountant.md): written atomically, read
 * with libyaml (JSON is YAML flow syntax). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include "common/durable.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

int accountant_ledger_save_json(const accountant_ledger *ledger, const char *path, dpkit_error *err)
{
    char temp[4200];
    snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(temp, "w");
    if (!out)
        return error_set(err, "%s: cannot create file: %s", temp, strerror(errno));
    fprintf(out, "{\"format\": \"dpkit privacy ledger\", \"version\": 1, \"events\": [");
    for (size_t i = 0; i < ledger->count; i++) {
        const accountant_event *e = &ledger->events[i];
        fprintf(out, "%s\n  {\"sampling_rate\": %.17g, \"noise_multiplier\": %.17g, "
                     "\"count\": %lld, \"label\": \"",
                i ? "," : "", e->sampling_rate, e->noise_multiplier, e->count);
        /* Labels are printable ASCII; only quotes and backslashes need escaping. */
        for (const char *c = e->label; *c; c++) {
            if (*c == '"' || *c == '\\')
                fputc('\\', out);
            fputc(*c, out);
        }
        fputc('"', out);
        /* Poisson events are written as before, so that older readers still take them. */
        if (e->sampler != ACCOUNTANT_SAMPLER_POISSON)
            fprintf(out, ", \"sampler\": \"%s\"", accountant_sampler_name(e->sampler));
        fputc('}', out);
    }
    fputs(ledger->count ? "\n]" : "]", out);
    if (ledger->tuning.enabled)
        fprintf(out, ",\n\"tuning\": {\"distribution\": \"truncated-negative-binomial\", "
                     "\"eta\": %.17g, \"gamma\": %.17g}", ledger->tuning.eta, ledger->tuning.gamma);
    fputs("}\n", out);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        remove(temp);
        return error_set(err, "%s: cannot write file (disk full?)", temp);
    }
    return durable_replace(temp, path, err);
}

static const char *scalar_text(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static int parse_number(const char *path, size_t index, const char *key, const yaml_node_t *node,
                        double *value, dpkit_error *err)
{
    const char *text = scalar_text(node);
    char *end = NULL;
    if (text) {
        errno = 0;
        *value = strtod(text, &end);
    }
    if (!text || end == text || *end != '\0' || errno == ERANGE || !isfinite(*value))
        return error_set(err, "%s: event %zu: %s must be a number", path, index, key);
    return 0;
}

static int parse_count(const char *path, size_t index, const yaml_node_t *node, long long *value,
                       dpkit_error *err)
{
    const char *text = scalar_text(node);
    char *end = NULL;
    if (text) {
        errno = 0;
        *value = strtoll(text, &end, 10);
    }
    if (!text || end == text || *end != '\0' || errno == ERANGE)
        return error_set(err, "%s: event %zu: count must be an integer", path, index);
    return 0;
}

/* One {"sampling_rate", "noise_multiplier", "count", "label"} mapping, appended to the ledger. */
static int parse_event(yaml_document_t *doc, const yaml_node_t *node, const char *path,
                       size_t index, accountant_ledger *ledger, dpkit_error *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return error_set(err, "%s: event %zu must be an object", path, index);
    double rate = NAN, sigma = NAN;
    long long count = -1;
    const char *label = "";
    accountant_sampler sampler = ACCOUNTANT_SAMPLER_POISSON; /* absent: Poisson */
    int seen = 0;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const char *key = scalar_text(yaml_document_get_node(doc, pair->key));
        const yaml_node_t *value = yaml_document_get_node(doc, pair->value);
        int status;
        if (!key)
            return error_set(err, "%s: event %zu: keys must be strings", path, index);
        if (strcmp(key, "sampling_rate") == 0)
            status = parse_number(path, index, key, value, &rate, err), seen |= 1;
        else if (strcmp(key, "noise_multiplier") == 0)
            status = parse_number(path, index, key, value, &sigma, err), seen |= 2;
        else if (strcmp(key, "count") == 0)
            status = parse_count(path, index, value, &count, err), seen |= 4;
        else if (strcmp(key, "label") == 0) {
            label = scalar_text(value);
            status = label ? 0 : error_set(err, "%s: event %zu: label must be a string", path,
                                           index);
        } else if (strcmp(key, "sampler") == 0) {
            const char *text = scalar_text(value);
            status = text ? accountant_sampler_parse(text, &sampler, err)
                          : error_set(err, "sampler must be a string");
            if (status != 0)
                error_prefix(err, "%s: event %zu", path, index);
        } else
            status = error_set(err, "%s: event %zu: unknown key '%s' (expected sampling_rate, "
                                    "noise_multiplier, count, label, sampler)", path, index, key);
        if (status != 0)
            return -1;
    }
    if (seen != 7)
        return error_set(err, "%s: event %zu: sampling_rate, noise_multiplier and count are "
                              "required", path, index);
    if (accountant_event_check_fields(rate, sigma, count, err) != 0 ||
        accountant_ledger_record_sampled(ledger, sampler, rate, sigma, count, label, err) != 0)
        return error_prefix(err, "%s: event %zu", path, index);
    return 0;
}

/* "tuning": {"distribution": "truncated-negative-binomial", "eta": E, "gamma": G}. */
static int parse_tuning(yaml_document_t *doc, const yaml_node_t *node, const char *path,
                        accountant_ledger *ledger, dpkit_error *err)
{
    if (node->type != YAML_MAPPING_NODE)
        return error_set(err, "%s: \"tuning\" must be an object", path);
    double eta = NAN, gamma = NAN;
    const char *distribution = NULL;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        const char *key = scalar_text(yaml_document_get_node(doc, pair->key));
        const char *text = scalar_text(yaml_document_get_node(doc, pair->value));
        char *end = NULL;
        double value = text ? strtod(text, &end) : NAN;
        int number = text && end != text && *end == '\0';
        if (key && strcmp(key, "distribution") == 0)
            distribution = text;
        else if (key && (strcmp(key, "eta") == 0 || strcmp(key, "gamma") == 0)) {
            if (!number)
                return error_set(err, "%s: tuning %s must be a number", path, key);
            *(key[0] == 'e' ? &eta : &gamma) = value;
        } else
            return error_set(err, "%s: tuning: unknown key '%s' (expected distribution, eta, "
                                  "gamma)", path, key ? key : "?");
    }
    if (!distribution || strcmp(distribution, "truncated-negative-binomial") != 0)
        return error_set(err, "%s: tuning distribution = %s, expected "
                              "\"truncated-negative-binomial\"", path,
                         distribution ? distribution : "(missing)");
    if (isnan(eta) || isnan(gamma))
        return error_set(err, "%s: tuning needs eta and gamma", path);
    if (accountant_ledger_set_tuning(ledger, eta, gamma, err) != 0)
        return error_prefix(err, "%s", path);
    return 0;
}

static int parse_document(yaml_document_t *doc, const char *path, accountant_ledger *ledger,
                          dpkit_error *err)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        return error_set(err, "%s: expected a JSON object with an \"events\" list", path);
    yaml_node_t *events = NULL, *tuning = NULL;
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        const char *key = scalar_text(yaml_document_get_node(doc, pair->key));
        if (key && strcmp(key, "events") == 0)
            events = yaml_document_get_node(doc, pair->value);
        if (key && strcmp(key, "tuning") == 0)
            tuning = yaml_document_get_node(doc, pair->value);
    }
    if (tuning && parse_tuning(doc, tuning, path, ledger, err) != 0)
        return -1;
    if (!events || events->type != YAML_SEQUENCE_NODE)
        return error_set(err, "%s: \"events\" must be a list", path);
    size_t index = 0;
    for (yaml_node_item_t *item = events->data.sequence.items.start;
         item < events->data.sequence.items.top; item++, index++)
        if (parse_event(doc, yaml_document_get_node(doc, *item), path, index, ledger, err) != 0)
            return -1;
    return 0;
}

int accountant_ledger_load_json(accountant_ledger *ledger, const char *path, dpkit_error *err)
{
    accountant_ledger_init(ledger);
    FILE *in = fopen(path, "rb");
    if (!in)
        return error_set(err, "%s: cannot open privacy ledger: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    int status = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(in);
        return error_set(err, "%s: cannot start the JSON parser", path);
    }
    yaml_parser_set_input_file(&parser, in);
    if (!yaml_parser_load(&parser, &doc)) {
        status = error_set(err, "%s: not valid JSON at line %zu: %s", path,
                           parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "syntax error");
    } else {
        status = parse_document(&doc, path, ledger, err);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(in);
    if (status != 0)
        accountant_ledger_free(ledger);
    return status;
}
