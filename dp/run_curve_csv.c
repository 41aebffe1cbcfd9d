/* Reading back a curve's curve.csv (dp/run_curve.h), so that its figure can be drawn again
 * without training: each row fills the point of its model, epsilon and seed. */
#include "dp/run_curve.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_HEADER "dataset,model,epsilon,delta,seed,sigma,epochs,test_accuracy,seconds," \
                   "epsilon_spent"
#define CSV_FIELDS 10

/* Splits one row in place into fields; a field in double quotes (the model) may hold commas. */
static size_t split_row(char *row, char **fields)
{
    size_t n = 0;
    char *p = row;
    while (n < CSV_FIELDS) {
        if (*p == '"') {
            char *end = strchr(p + 1, '"');
            if (!end)
                return 0;
            fields[n++] = p + 1;
            *end = '\0';
            p = end + 1;
        } else {
            fields[n++] = p;
            p += strcspn(p, ",");
        }
        if (*p != ',')
            break;
        *p++ = '\0';
    }
    return *p == '\0' ? n : 0;
}

static int number(const char *text, double *value)
{
    char *end;
    errno = 0;
    *value = strtod(text, &end);
    return end != text && *end == '\0' && errno == 0 ? 0 : -1;
}

/* The point of the row's model, epsilon and seed; epsilons compare as curve.csv prints them. */
static run_curve_point *find_point(run_curve *c, const char *model, const char *epsilon,
                                   double seed)
{
    for (size_t k = 0; k < c->point_count; k++) {
        run_curve_point *p = &c->points[k];
        char text[64];
        snprintf(text, sizeof text, "%g", p->epsilon);
        if ((double)p->seed == seed && strcmp(text, epsilon) == 0 &&
            strcmp(config_get_string(config_list_item(c->cfg, "runs", p->line), "label"),
                   model) == 0)
            return p;
    }
    return NULL;
}

static int read_row(run_curve *c, char *row, const char *path, size_t line, dpkit_error *err)
{
    char *f[CSV_FIELDS];
    if (split_row(row, f) != CSV_FIELDS)
        return error_set(err, "%s:%zu: expected %d comma-separated fields (%s)", path, line,
                         CSV_FIELDS, CSV_HEADER);
    double seed, v[5];
    if (number(f[4], &seed))
        return error_set(err, "%s:%zu: seed: '%s', expected an integer", path, line, f[4]);
    const char *names[5] = {"sigma", "epochs", "test_accuracy", "seconds", "epsilon_spent"};
    for (int i = 0; i < 5; i++)
        if (number(f[5 + i], &v[i]))
            return error_set(err, "%s:%zu: %s: '%s', expected a number", path, line, names[i],
                             f[5 + i]);
    run_curve_point *p = find_point(c, f[1], f[2], seed);
    if (!p)
        return error_set(err, "%s:%zu: model '%s', epsilon %s, seed %s is not a point of curve "
                         "%s; expected the curve config the CSV was made with", path, line, f[1],
                         f[2], f[4], c->name);
    p->sigma = v[0];
    p->epochs = isfinite(v[1]) && fabs(v[1]) < 1e15 ? (long)v[1] : 0;
    p->accuracy = v[2];
    p->seconds = v[3];
    p->spent = v[4];
    p->done = isfinite(p->accuracy); /* a point not finished was written as nan */
    snprintf(p->dataset, sizeof p->dataset, "%s", f[0]);
    return 0;
}

/* The whole file as a string; NULL with an error naming it. */
static char *read_text(const char *path, dpkit_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        error_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t size = 0, used = 0, got;
    do {
        if (used + 4096 + 1 > size) {
            char *grown = realloc(text, size = 2 * size + 4096 + 1);
            if (!grown) {
                free(text);
                fclose(f);
                error_set(err, "%s: out of memory", path);
                return NULL;
            }
            text = grown;
        }
        got = fread(text + used, 1, 4096, f);
        used += got;
    } while (got > 0);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        error_set(err, "%s: cannot read", path);
        return NULL;
    }
    text[used] = '\0';
    return text;
}

int run_curve_read_csv(run_curve *c, const char *path, dpkit_error *err)
{
    char *text = read_text(path, err);
    if (!text)
        return -1;
    int status = 0;
    size_t line = 0, rows = 0;
    for (char *row = text, *next; *row && status == 0; row = next) {
        next = row + strcspn(row, "\n");
        if (*next)
            *next++ = '\0';
        line++;
        row[strcspn(row, "\r")] = '\0';
        if (line == 1) {
            if (strcmp(row, CSV_HEADER) != 0)
                status = error_set(err, "%s:1: header '%s', expected '%s'", path, row,
                                   CSV_HEADER);
        } else if (*row) {
            status = read_row(c, row, path, line, err);
            rows++;
        }
    }
    if (status == 0 && rows == 0)
        status = error_set(err, "%s: no rows, expected one per point of curve %s", path, c->name);
    free(text);
    return status;
}
