/* dpkit curve: accuracy against epsilon. Trains every (model config, epsilon, seed) point of a
 * curve config with `dpkit train` (sigma calibrated per epsilon, features from the cache),
 * skips points already finished, then writes curve.csv, curve.md and curve.png. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "common/config.h"
#include "common/log.h"
#include "common/plot.h"
#include "common/progress.h"
#include "common/textfile.h"
#include "common/paths.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define COMMAND "curve"
#define MAX_VALUES 64

static const config_field run_item_schema[] = {
    {"label", CONFIG_STRING, NULL, "name of the line (e.g. ScatterNet+linear)", NULL, NULL},
    {"config", CONFIG_STRING, NULL, "training config of this line", NULL, NULL},
    {"paper", CONFIG_DOUBLE, "-1", "published accuracy (%) at paper_epsilon; < 0: none", NULL, NULL},
    {"set", CONFIG_STRING, "", "extra overrides for this line: key=value separated by spaces", NULL, NULL},
    {"seeds", CONFIG_STRING, "", "seeds of this line (default: the curve's seeds)", NULL, NULL},
    {0}};

static const config_field curve_schema[] = {
    {"name", CONFIG_STRING, "curve", "name of the curve (title of the plot)", NULL, NULL},
    {"runs", CONFIG_LIST, NULL, "one item per line of the plot", NULL, run_item_schema},
    {"epsilons", CONFIG_STRING, "1 1.5 2 2.5 3", "target epsilons, separated by spaces or commas", NULL, NULL},
    {"seeds", CONFIG_STRING, "0 1 2", "seeds, separated by spaces or commas", NULL, NULL},
    {"delta", CONFIG_DOUBLE, "1e-5", "delta of every point", NULL, NULL},
    {"paper_epsilon", CONFIG_DOUBLE, "3", "epsilon of the published values", NULL, NULL},
    {"output.dir", CONFIG_STRING, "", "curve directory (default runs/curves/<name>)", NULL, NULL},
    {0}};

static void print_help(void)
{
    printf("usage: dpkit curve CURVE.yaml [--set key=value]... [--jobs N]\n"
           "\n"
           "Test accuracy against epsilon. For every line of the curve config (a training config),\n"
           "every epsilon and every seed, trains a model with 'dpkit train' with the noise\n"
           "calibrated to that epsilon (nothing else changed) into OUTPUT/points/. A point whose\n"
           "summary.json exists is not trained again, so an interrupted sweep continues where it\n"
           "stopped. Then writes OUTPUT/curve.csv (one row per point), OUTPUT/curve.md (mean and\n"
           "standard deviation over seeds) and OUTPUT/curve.png (accuracy against epsilon, one line\n"
           "per model with error bars, published values marked).\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a key of the curve config (repeatable)\n"
           "  --jobs N          train N points at a time (default 1; each needs the memory of one\n"
           "                    training run)\n"
           "  --print-config    print the curve config keys and exit\n"
           "  -q, --quiet       only errors\n"
           "  -v, --verbose     more detail\n"
           "  -h, --help        show this help\n"
           "\n"
           "example:\n"
           "  dpkit curve configs/curves/mnist.yaml --jobs 2\n");
}

/* Parses "1 1.5, 2" into values; an empty or malformed list is an error naming the key. */
static int parse_numbers(const char *key, const char *text, double *values, size_t *count,
                         dpkit_error *err)
{
    *count = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v))
            return error_set(err, "%s: '%s' is not a list of numbers", key, text);
        if (*count == MAX_VALUES)
            return error_set(err, "%s: more than %d values", key, MAX_VALUES);
        values[(*count)++] = v;
        p = end;
        if (*p && *p != ' ' && *p != ',' && *p != '\t')
            return error_set(err, "%s: '%s' is not a list of numbers", key, text);
    }
    if (*count == 0)
        return error_set(err, "%s: empty list", key);
    return 0;
}

typedef struct point {
    size_t line;
    double epsilon;
    long seed;
    char dir[4096];
    /* from summary.json */
    int done;
    double accuracy, sigma, seconds, spent;
    long epochs;
    char dataset[128];
} point;

typedef struct curve {
    config *cfg;
    char name[128], dir[2048];
    double delta, paper_epsilon;
    size_t line_count;
    double epsilons[MAX_VALUES], seeds[MAX_VALUES];
    size_t epsilon_count, seed_count;
    point *points;
    size_t point_count;
} curve;

static void safe_name(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const char *c = text; *c && n + 1 < size; c++)
        out[n++] = isalnum((unsigned char)*c) || *c == '-' || *c == '.' ? *c : '_';
    out[n] = '\0';
}

/* Parses a list of seeds (integers >= 0) from the string field `key` of `node`. */
static int parse_seeds(const config *node, const char *key, double *seeds, size_t *count,
                       dpkit_error *err)
{
    if (parse_numbers(key, config_get_string(node, key), seeds, count, err))
        return -1;
    for (size_t i = 0; i < *count; i++)
        if (seeds[i] < 0 || seeds[i] != floor(seeds[i]))
            return error_set(err, "%s: %g, expected integers >= 0", key, seeds[i]);
    return 0;
}

/* The seeds of line l: its own `seeds` when given, else the curve's. */
static int line_seeds_of(const curve *c, size_t l, double *seeds, size_t *count, dpkit_error *err)
{
    const config *line = config_list_item(c->cfg, "runs", l);
    if (config_get_string(line, "seeds")[0] == '\0') {
        memcpy(seeds, c->seeds, c->seed_count * sizeof *seeds);
        *count = c->seed_count;
        return 0;
    }
    return parse_seeds(line, "seeds", seeds, count, err);
}

static int load_curve(const char *path, const char *const *sets, size_t set_count, curve *c,
                      dpkit_error *err)
{
    if (config_load_with_overrides(path, curve_schema, sets, set_count, &c->cfg, err))
        return -1;
    snprintf(c->name, sizeof c->name, "%s", config_get_string(c->cfg, "name"));
    const char *dir = config_get_string(c->cfg, "output.dir");
    if (strlen(dir) + 1 > sizeof c->dir)
        return error_set(err, "%s: output.dir: longer than %zu characters", path, sizeof c->dir - 1);
    if (dir[0])
        snprintf(c->dir, sizeof c->dir, "%s", dir);
    else
        snprintf(c->dir, sizeof c->dir, "runs/curves/%s", c->name);
    c->delta = config_get_double(c->cfg, "delta");
    c->paper_epsilon = config_get_double(c->cfg, "paper_epsilon");
    if (!(c->delta > 0 && c->delta < 1))
        return error_set(err, "%s: delta: %g, expected 0 < delta < 1", path, c->delta);
    c->line_count = config_list_length(c->cfg, "runs");
    if (c->line_count == 0)
        return error_set(err, "%s: runs: at least one line is needed", path);
    if (parse_numbers("epsilons", config_get_string(c->cfg, "epsilons"), c->epsilons,
                      &c->epsilon_count, err) ||
        parse_seeds(c->cfg, "seeds", c->seeds, &c->seed_count, err))
        return error_prefix(err, "%s", path);
    for (size_t i = 0; i < c->epsilon_count; i++)
        if (!(c->epsilons[i] > 0))
            return error_set(err, "%s: epsilons: %g, expected > 0", path, c->epsilons[i]);
    /* Each line may run its own seeds (a costly model with fewer); count the points first. */
    double line_seeds[MAX_VALUES];
    size_t line_seed_count;
    c->point_count = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        if (line_seeds_of(c, l, line_seeds, &line_seed_count, err))
            return error_prefix(err, "%s: runs[%zu]", path, l);
        c->point_count += c->epsilon_count * line_seed_count;
    }
    c->points = calloc(c->point_count, sizeof *c->points);
    if (!c->points)
        return error_set(err, "out of memory");
    size_t k = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        char label[128];
        safe_name(config_get_string(config_list_item(c->cfg, "runs", l), "label"), label,
                  sizeof label);
        line_seeds_of(c, l, line_seeds, &line_seed_count, err); /* checked above */
        for (size_t e = 0; e < c->epsilon_count; e++)
            for (size_t s = 0; s < line_seed_count; s++, k++) {
                point *p = &c->points[k];
                p->line = l;
                p->epsilon = c->epsilons[e];
                p->seed = (long)line_seeds[s];
                snprintf(p->dir, sizeof p->dir, "%s/points/%s/eps%g-seed%ld", c->dir, label,
                         p->epsilon, p->seed);
            }
    }
    return 0;
}

static double number_at(const config_node *root, const char *key)
{
    const config_node *n = config_node_find(root, key);
    double v = NAN;
    dpkit_error ignored;
    if (n && !config_node_is_null(n) && config_node_double(n, &v, &ignored) != 0)
        v = NAN;
    return v;
}

/* Reads the point's summary.json if it exists (a finished point). */
static int read_summary(point *p, dpkit_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", p->dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    config_node *root;
    if (config_parse_file(path, &root, err))
        return -1;
    p->accuracy = number_at(root, "test_accuracy");
    p->sigma = number_at(root, "noise_multiplier");
    p->seconds = number_at(root, "train_seconds");
    p->spent = number_at(root, "epsilon");
    p->epochs = (long)number_at(root, "epochs");
    const config_node *d = config_node_find(root, "dataset");
    snprintf(p->dataset, sizeof p->dataset, "%s", d && d->value ? d->value : "?");
    config_node_free(root);
    if (!isfinite(p->accuracy))
        return error_set(err, "%s: no test_accuracy", path);
    p->done = 1;
    return 0;
}

/* Starts `dpkit -q train` for one point; returns the child's pid. */
static pid_t start_point(const curve *c, const point *p, dpkit_error *err)
{
    const config *line = config_list_item(c->cfg, "runs", p->line);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return (pid_t)error_set(err, "cannot find the dpkit program (/proc/self/exe)");
    self[n] = '\0';
    char seed[64], epsilon[64], delta[64], extra[2048];
    snprintf(seed, sizeof seed, "seed=%ld", p->seed);
    snprintf(epsilon, sizeof epsilon, "privacy.epsilon=%.17g", p->epsilon);
    snprintf(delta, sizeof delta, "privacy.delta=%.17g", c->delta);
    snprintf(extra, sizeof extra, "%s", config_get_string(line, "set"));
    char *argv[64] = {self, "-q", "train", (char *)config_get_string(line, "config"),
                      "--set", seed, "--set", epsilon, "--set", delta,
                      "--set", "privacy.noise_multiplier=0", "--set", "privacy.enabled=true",
                      "--output", (char *)p->dir};
    size_t argc = 16;
    for (char *tok = strtok(extra, " "); tok && argc + 3 < 64; tok = strtok(NULL, " ")) {
        argv[argc++] = "--set";
        argv[argc++] = tok;
    }
    argv[argc] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (rc != 0)
        return (pid_t)error_set(err, "cannot start %s: %s", self, strerror(rc));
    return pid;
}

static int wait_one(curve *c, pid_t *pids, size_t *running, dpkit_error *err)
{
    int status;
    pid_t pid;
    while ((pid = wait(&status)) < 0 && errno == EINTR)
        ;
    for (size_t k = 0; k < c->point_count; k++)
        if (pids[k] == pid) {
            pids[k] = 0;
            (*running)--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return error_set(err, "training point %s failed (exit %d); see its log above",
                                 c->points[k].dir, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return read_summary(&c->points[k], err);
        }
    return error_set(err, "unexpected child process %ld", (long)pid);
}

static int run_points(curve *c, int jobs, dpkit_error *err)
{
    size_t todo = 0;
    for (size_t k = 0; k < c->point_count; k++) {
        if (read_summary(&c->points[k], err))
            return -1;
        todo += !c->points[k].done;
    }
    log_info("%s: %zu points, %zu already done", c->name, c->point_count, c->point_count - todo);
    pid_t *pids = calloc(c->point_count, sizeof *pids);
    if (!pids)
        return error_set(err, "out of memory");
    progress bar;
    progress_start(&bar, c->name, todo, "points");
    size_t running = 0, finished = 0;
    int status = 0;
    for (size_t k = 0; k < c->point_count && status == 0; k++) {
        if (c->points[k].done)
            continue;
        while (running >= (size_t)jobs && status == 0) {
            status = wait_one(c, pids, &running, err);
            progress_update(&bar, ++finished);
        }
        if (status)
            break;
        pids[k] = start_point(c, &c->points[k], err);
        if (pids[k] < 0) {
            pids[k] = 0;
            status = -1;
            break;
        }
        running++;
    }
    while (running > 0) { /* also after a failure: never leave children behind */
        dpkit_error later;
        int s = wait_one(c, pids, &running, status ? &later : err);
        if (!status)
            status = s;
        progress_update(&bar, ++finished);
    }
    progress_finish(&bar);
    free(pids);
    return status;
}

static void line_stats(const curve *c, size_t line, double epsilon, double *mean, double *sd,
                       size_t *n)
{
    double sum = 0, squares = 0;
    *n = 0;
    for (size_t k = 0; k < c->point_count; k++) {
        const point *p = &c->points[k];
        if (p->line == line && p->epsilon == epsilon && p->done) {
            sum += 100 * p->accuracy;
            squares += 1e4 * p->accuracy * p->accuracy;
            (*n)++;
        }
    }
    *mean = *n ? sum / (double)*n : NAN;
    *sd = *n > 1 ? sqrt(fmax(squares - sum * sum / (double)*n, 0) / (double)(*n - 1)) : 0;
}

static int write_outputs(const curve *c, dpkit_error *err)
{
    char path[4200];
    size_t size = 256 + c->point_count * 400 + c->line_count * c->epsilon_count * 300;
    char *text = malloc(size);
    if (!text)
        return error_set(err, "out of memory");
    size_t used = (size_t)snprintf(text, size, "dataset,model,epsilon,delta,seed,sigma,epochs,"
                                               "test_accuracy,seconds,epsilon_spent\n");
    for (size_t k = 0; k < c->point_count; k++) {
        const point *p = &c->points[k];
        used += (size_t)snprintf(text + used, size - used, "%s,\"%s\",%g,%g,%ld,%.6g,%ld,%.4f,%.1f,%.6g\n",
                                 p->dataset, config_get_string(config_list_item(c->cfg, "runs", p->line), "label"),
                                 p->epsilon, c->delta, p->seed, p->sigma, p->epochs, p->accuracy,
                                 p->seconds, p->spent);
    }
    snprintf(path, sizeof path, "%s/curve.csv", c->dir);
    if (textfile_write_atomic(path, text, used, err)) {
        free(text);
        return -1;
    }
    used = (size_t)snprintf(text, size, "# %s: test accuracy (%%) against epsilon (delta = %g)\n\n"
                                        "Mean +- standard deviation over seeds; a value without +- is one seed.\n\n"
                                        "| model |",
                            c->name, c->delta);
    for (size_t e = 0; e < c->epsilon_count; e++)
        used += (size_t)snprintf(text + used, size - used, " eps = %g |", c->epsilons[e]);
    used += (size_t)snprintf(text + used, size - used, " paper (eps = %g) |\n|---|", c->paper_epsilon);
    for (size_t e = 0; e <= c->epsilon_count; e++)
        used += (size_t)snprintf(text + used, size - used, "---|");
    for (size_t l = 0; l < c->line_count; l++) {
        const config *line = config_list_item(c->cfg, "runs", l);
        used += (size_t)snprintf(text + used, size - used, "\n| %s |", config_get_string(line, "label"));
        for (size_t e = 0; e < c->epsilon_count; e++) {
            double mean, sd;
            size_t n;
            line_stats(c, l, c->epsilons[e], &mean, &sd, &n);
            if (n > 1)
                used += (size_t)snprintf(text + used, size - used, " %.2f +- %.2f |", mean, sd);
            else if (n == 1)
                used += (size_t)snprintf(text + used, size - used, " %.2f |", mean);
            else
                used += (size_t)snprintf(text + used, size - used, " - |");
        }
        double paper = config_get_double(line, "paper");
        if (paper >= 0)
            used += (size_t)snprintf(text + used, size - used, " %.1f |", paper);
        else
            used += (size_t)snprintf(text + used, size - used, " |");
    }
    used += (size_t)snprintf(text + used, size - used, "\n");
    snprintf(path, sizeof path, "%s/curve.md", c->dir);
    int status = textfile_write_atomic(path, text, used, err);
    free(text);
    if (status)
        return -1;

    plot *p;
    snprintf(path, sizeof path, "%s/curve.png", c->dir);
    if (plot_begin(&p, path, c->name, err))
        return -1;
    FILE *f = plot_script(p);
    fputs("set xlabel 'epsilon'\nset ylabel 'test accuracy (%)'\nset key right bottom\n"
          "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\nplot ", f);
    for (size_t l = 0; l < c->line_count; l++) {
        const config *line = config_list_item(c->cfg, "runs", l);
        const char *data;
        FILE *d = plot_data(p, &data);
        if (!d) {
            plot_abort(p);
            return error_set(err, "plot: too many lines");
        }
        for (size_t e = 0; e < c->epsilon_count; e++) {
            double mean, sd;
            size_t n;
            line_stats(c, l, c->epsilons[e], &mean, &sd, &n);
            if (n)
                fprintf(d, "%.17g %.17g %.17g\n", c->epsilons[e], mean, sd);
        }
        fclose(d);
        plot_quoted(f, data);
        fprintf(f, " using 1:2:3 with yerrorlines lw 2 pt 7 lc %zu title ", l + 1);
        plot_quoted(f, config_get_string(line, "label"));
        double paper = config_get_double(line, "paper");
        if (paper >= 0) {
            const char *marker;
            FILE *m = plot_data(p, &marker);
            if (!m) {
                plot_abort(p);
                return error_set(err, "plot: too many lines");
            }
            fprintf(m, "%.17g %.17g\n", c->paper_epsilon, paper);
            fclose(m);
            fputs(", ", f);
            plot_quoted(f, marker);
            fprintf(f, " using 1:2 with points pt 12 ps 2.5 lw 2 lc %zu title ", l + 1);
            char label[200];
            snprintf(label, sizeof label, "%s, paper", config_get_string(line, "label"));
            plot_quoted(f, label);
        }
        fputs(l + 1 < c->line_count ? ", " : "\n", f);
    }
    return plot_finish(p, err);
}

int cli_curve(int argc, char **argv)
{
    static const struct option options[] = {
        {"set", required_argument, NULL, 's'},   {"jobs", required_argument, NULL, 'j'},
        {"print-config", no_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'},
        {"quiet", no_argument, NULL, 'q'},       {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    cli_config_args args = {0};
    long long jobs = 1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int shared = cli_config_option(COMMAND, c, optarg, curve_schema, print_help, &args);
        if (shared > 0)
            return shared == 1 ? 0 : shared;
        if (shared == 0)
            continue;
        if (c != 'j')
            return cli_usage_error(COMMAND, "unknown option");
        if (cli_parse_long(COMMAND, "--jobs", optarg, &jobs))
            return 2;
        if (jobs < 1 || jobs > 64)
            return cli_usage_error(COMMAND, "--jobs must be 1..64, got %lld", jobs);
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one CURVE config file");
    curve cv;
    memset(&cv, 0, sizeof cv);
    dpkit_error err;
    int status = load_curve(argv[optind], args.sets, args.set_count, &cv, &err) ||
                 paths_make_directory(cv.dir, &err) || run_points(&cv, (int)jobs, &err) ||
                 write_outputs(&cv, &err);
    if (!status)
        printf("%s: %zu points; %s/curve.csv, curve.md, curve.png\n", cv.name, cv.point_count,
               cv.dir);
    config_free(cv.cfg);
    free(cv.points);
    return status ? cli_fail(COMMAND, &err) : 0;
}
