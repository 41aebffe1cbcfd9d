/* The accuracy-against-epsilon experiment (dp/run_curve.h): the grid of points, their
 * training in worker processes (run_train, sigma calibrated per epsilon, features from the
 * cache), the resume of finished points, and the CSV, Markdown and plot outputs. */
#include "dp/run_curve.h"

#include "common/log.h"
#include "common/parallel.h"
#include "common/paths.h"
#include "common/progress.h"
#include "common/textfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const config_field run_item_schema[] = {
    {"label", CONFIG_STRING, NULL, "name of the line (e.g. ScatterNet+linear)", NULL, NULL},
    {"config", CONFIG_STRING, NULL, "training config of this line", NULL, NULL},
    {"paper", CONFIG_DOUBLE, "-1", "published accuracy (%) at paper_epsilon; < 0: none", NULL, NULL},
    {"set", CONFIG_STRING, "", "extra overrides for this line: key=value separated by spaces", NULL, NULL},
    {"seeds", CONFIG_STRING, "", "seeds of this line (default: the curve's seeds)", NULL, NULL},
    {"epsilons", CONFIG_STRING, "", "epsilons of this line, among the curve's (default: all of them)", NULL, NULL},
    {0}};

const config_field run_curve_schema[] = {
    {"name", CONFIG_STRING, "curve", "name of the curve (title of the plot)", NULL, NULL},
    {"runs", CONFIG_LIST, NULL, "one item per line of the plot", NULL, run_item_schema},
    {"epsilons", CONFIG_STRING, "1 1.5 2 2.5 3", "target epsilons, separated by spaces or commas", NULL, NULL},
    {"seeds", CONFIG_STRING, "0 1 2", "seeds, separated by spaces or commas", NULL, NULL},
    {"delta", CONFIG_DOUBLE, "1e-5", "delta of every point", "0..1", NULL},
    {"paper_epsilon", CONFIG_DOUBLE, "3", "epsilon of the published values", NULL, NULL},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_output},
    {"output.dir", CONFIG_DEFAULT, "", "curve directory (default runs/curves/<name>)", NULL, NULL},
    {0}};

#define MAX_SETS 64 /* overrides of one point: 5 of the curve, the rest of its line */

/* Parses a list of seeds (integers >= 0). */
static int parse_seeds(const config *cfg, const char *key, double *seeds, size_t *count,
                       dpkit_error *err)
{
    if (config_get_numbers(cfg, key, seeds, RUN_CURVE_MAX_VALUES, count, err))
        return -1;
    for (size_t i = 0; i < *count; i++)
        if (seeds[i] < 0 || seeds[i] != floor(seeds[i]) || seeds[i] > 9.2e18)
            return config_error(cfg, key, err, "%g, expected integers >= 0", seeds[i]);
    return 0;
}

/* The seeds (or epsilons) of line l: its own list under `key` when given, else the curve's. A
 * line's epsilons must be among the curve's: the tables and the plot have a column per epsilon
 * of the curve (a line with another schedule per epsilon is one line per schedule). */
static int line_values_of(const run_curve *c, size_t l, const char *key, double *values,
                          size_t *count, dpkit_error *err)
{
    const config *line = config_list_item(c->cfg, "runs", l);
    int seeds = strcmp(key, "seeds") == 0;
    if (config_get_string(line, key)[0] == '\0') {
        *count = seeds ? c->seed_count : c->epsilon_count;
        memcpy(values, seeds ? c->seeds : c->epsilons, *count * sizeof *values);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "runs[%zu].%s", l, key);
    if (seeds)
        return parse_seeds(c->cfg, path, values, count, err);
    if (config_get_numbers(c->cfg, path, values, RUN_CURVE_MAX_VALUES, count, err))
        return -1;
    for (size_t i = 0; i < *count; i++) {
        size_t e = 0;
        while (e < c->epsilon_count && c->epsilons[e] != values[i])
            e++;
        if (e == c->epsilon_count)
            return config_error(c->cfg, path, err, "%g, expected one of the curve's epsilons",
                                values[i]);
    }
    return 0;
}

static const char *label_of(const run_curve *c, size_t line)
{
    return config_get_string(config_list_item(c->cfg, "runs", line), "label");
}

static void safe_name(const char *text, char *out, size_t size)
{
    size_t n = 0;
    for (const char *c = text; *c && n + 1 < size; c++)
        out[n++] = isalnum((unsigned char)*c) || *c == '-' || *c == '.' ? *c : '_';
    out[n] = '\0';
}

int run_curve_load(const char *path, const char *const *sets, size_t set_count, run_curve *c,
                   dpkit_error *err)
{
    memset(c, 0, sizeof *c);
    if (config_load_with_overrides(path, run_curve_schema, sets, set_count, &c->cfg, err))
        return run_config_explain_kind(path, RUN_CONFIG_KIND_CURVE, err);
    snprintf(c->name, sizeof c->name, "%s", config_get_string(c->cfg, "name"));
    const char *dir = config_get_string(c->cfg, "output.dir");
    if (strlen(dir) + 1 > sizeof c->dir)
        return config_error(c->cfg, "output.dir", err, "longer than %zu characters", sizeof c->dir - 1);
    if (dir[0])
        snprintf(c->dir, sizeof c->dir, "%s", dir);
    else
        snprintf(c->dir, sizeof c->dir, "runs/curves/%s", c->name);
    c->delta = config_get_double(c->cfg, "delta");
    c->paper_epsilon = config_get_double(c->cfg, "paper_epsilon");
    if (!(c->delta > 0 && c->delta < 1))
        return config_error(c->cfg, "delta", err, "%g, expected 0 < delta < 1", c->delta);
    c->line_count = config_list_length(c->cfg, "runs");
    if (c->line_count == 0)
        return config_error(c->cfg, "runs", err, "at least one line is needed");
    if (config_get_numbers(c->cfg, "epsilons", c->epsilons, RUN_CURVE_MAX_VALUES,
                           &c->epsilon_count, err) ||
        parse_seeds(c->cfg, "seeds", c->seeds, &c->seed_count, err))
        return -1;
    for (size_t i = 0; i < c->epsilon_count; i++)
        if (!(c->epsilons[i] > 0))
            return config_error(c->cfg, "epsilons", err, "%g, expected > 0", c->epsilons[i]);
    /* Each line may run its own seeds (a costly model with fewer) and epsilons (a schedule
     * that suits some of them); count the points first. */
    double line_seeds[RUN_CURVE_MAX_VALUES], line_epsilons[RUN_CURVE_MAX_VALUES];
    size_t line_seed_count, line_epsilon_count;
    c->point_count = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        if (line_values_of(c, l, "seeds", line_seeds, &line_seed_count, err) ||
            line_values_of(c, l, "epsilons", line_epsilons, &line_epsilon_count, err))
            return -1;
        c->point_count += line_epsilon_count * line_seed_count;
    }
    c->points = calloc(c->point_count, sizeof *c->points);
    if (!c->points)
        return error_set(err, "out of memory");
    size_t k = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        char label[128];
        safe_name(label_of(c, l), label, sizeof label);
        /* both checked above */
        line_values_of(c, l, "seeds", line_seeds, &line_seed_count, err);
        line_values_of(c, l, "epsilons", line_epsilons, &line_epsilon_count, err);
        for (size_t e = 0; e < line_epsilon_count; e++)
            for (size_t s = 0; s < line_seed_count; s++, k++) {
                run_curve_point *p = &c->points[k];
                p->line = l;
                p->epsilon = line_epsilons[e];
                p->seed = (long)line_seeds[s];
                snprintf(p->dir, sizeof p->dir, "%s/points/%s/eps%g-seed%ld", c->dir, label,
                         p->epsilon, p->seed);
            }
    }
    return 0;
}

void run_curve_free(run_curve *c)
{
    config_free(c->cfg);
    free(c->points);
    memset(c, 0, sizeof *c);
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
static int read_summary(run_curve_point *p, dpkit_error *err)
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
    double epochs = number_at(root, "epochs");
    p->epochs = isfinite(epochs) && fabs(epochs) < 1e15 ? (long)epochs : 0;
    const config_node *d = config_node_find(root, "dataset");
    snprintf(p->dataset, sizeof p->dataset, "%s", d && d->value ? d->value : "?");
    config_node_free(root);
    if (!isfinite(p->accuracy))
        return error_set(err, "%s: no test_accuracy", path);
    p->done = 1;
    return 0;
}

/* The worker: trains point p as `dpkit -q train LINE_CONFIG --set seed=S --set
 * privacy.epsilon=E --set privacy.delta=D --set privacy.noise_multiplier=0 --set
 * privacy.enabled=true [--set of the line]... --output DIR` would; writes its error, if any,
 * to fd. Never returns. */
static void train_point(const run_curve *c, const run_curve_point *p,
                        const run_curve_options *options, int fd)
{
    log_set_level(DPKIT_LOG_ERROR);
    const config *line = config_list_item(c->cfg, "runs", p->line);
    char seed[64], epsilon[64], delta[64], extra[2048];
    snprintf(seed, sizeof seed, "seed=%ld", p->seed);
    snprintf(epsilon, sizeof epsilon, "privacy.epsilon=%.17g", p->epsilon);
    snprintf(delta, sizeof delta, "privacy.delta=%.17g", c->delta);
    snprintf(extra, sizeof extra, "%s", config_get_string(line, "set"));
    const char *sets[MAX_SETS] = {seed, epsilon, delta, "privacy.noise_multiplier=0",
                                  "privacy.enabled=true"};
    size_t set_count = 5;
    dpkit_error err;
    int status = 0;
    char *save = NULL;
    for (char *tok = strtok_r(extra, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (set_count == MAX_SETS) {
            status = error_set(&err, "runs[%zu].set: more than %d overrides", p->line,
                               MAX_SETS - 5);
            break;
        }
        sets[set_count++] = tok;
    }
    /* A point without summary.json never finished: it starts again from nothing. */
    run_options run = {.config_path = config_get_string(line, "config"), .sets = sets,
                       .set_count = set_count, .output_dir = p->dir, .overwrite = 1};
    run_result result;
    if (status == 0)
        status = run_train(&run, &result, &err);
    if (status == 0 && result.finished && options->trained)
        options->trained(&result, options->user);
    if (status != 0) {
        size_t length = strlen(err.message), written = 0;
        while (written < length) {
            ssize_t n = write(fd, err.message + written, length - written);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            written += (size_t)n;
        }
    }
    fflush(stdout);
    fflush(stderr);
    _exit(status == 0 ? 0 : 1);
}

typedef struct worker {
    pid_t pid; /* 0: none */
    int fd;    /* read end of the worker's error pipe */
} worker;

/* Starts the worker of point k. Each point runs in a process of its own, as `dpkit train`
 * did: the trainings share no memory or global state, and --jobs of them run at once. */
static int start_point(const run_curve *c, size_t k, const run_curve_options *options,
                       worker *w, dpkit_error *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return error_set(err, "cannot start point %s: %s", c->points[k].dir, strerror(errno));
    fflush(NULL); /* buffered output is written once, not once per process */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]), close(fds[1]);
        return error_set(err, "cannot start point %s: %s", c->points[k].dir, strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        train_point(c, &c->points[k], options, fds[1]);
    }
    close(fds[1]);
    w->pid = pid;
    w->fd = fds[0];
    return 0;
}

/* Collects worker k once its pipe is closed: its error message and exit status. */
static int finish_point(run_curve *c, size_t k, worker *w, dpkit_error *err)
{
    char message[DPKIT_ERROR_MESSAGE_SIZE];
    size_t used = 0;
    for (;;) {
        ssize_t n = read(w->fd, message + used, sizeof message - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        if (used == sizeof message - 1)
            break;
    }
    message[used] = '\0';
    close(w->fd);
    int status;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    const run_curve_point *p = &c->points[k];
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return read_summary(&c->points[k], err);
    if (used)
        return error_set(err, "training point %s failed: %s", p->dir, message);
    if (WIFSIGNALED(status))
        return error_set(err, "training point %s failed (signal %d)", p->dir, WTERMSIG(status));
    return error_set(err, "training point %s failed (exit %d)", p->dir,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Waits for one running worker to end (its error pipe closes) and collects it; *point is its
 * index. */
static int wait_one(run_curve *c, worker *workers, size_t *running, size_t *point,
                    dpkit_error *err)
{
    struct pollfd *fds = calloc(*running, sizeof *fds);
    size_t *points = calloc(*running, sizeof *points);
    if (!fds || !points) {
        free(fds), free(points);
        return error_set(err, "out of memory");
    }
    size_t n = 0;
    for (size_t k = 0; k < c->point_count; k++)
        if (workers[k].pid) {
            fds[n].fd = workers[k].fd;
            fds[n].events = POLLIN;
            points[n++] = k;
        }
    while (poll(fds, n, -1) < 0 && errno == EINTR)
        ;
    size_t ready = 0;
    while (ready + 1 < n && !fds[ready].revents)
        ready++;
    size_t k = points[ready];
    free(fds), free(points);
    (*running)--;
    *point = k;
    return finish_point(c, k, &workers[k], err);
}

/* The log line of a finished point: its accuracy, and the curve's points done and time left
 * (from this call's finished points). */
static void point_finished(const run_curve *c, size_t k, progress *bar, size_t finished)
{
    const run_curve_point *p = &c->points[k];
    char eta[96];
    progress_count(bar, finished);
    progress_describe(bar, eta, sizeof eta);
    log_info("%s: %s epsilon %g seed %ld: test accuracy %.4f; curve: %zu/%zu points, %s",
             c->name, label_of(c, p->line), p->epsilon, p->seed, p->accuracy, finished,
             bar->total, eta);
}

static int train_points(run_curve *c, const run_curve_options *options, dpkit_error *err)
{
    size_t todo = 0, mine = 0;
    for (size_t k = 0; k < c->point_count; k++) {
        if (read_summary(&c->points[k], err))
            return -1;
        todo += !c->points[k].done;
        mine += !c->points[k].done && parallel_owns(k);
    }
    log_info("%s: %zu points, %zu already done", c->name, c->point_count, c->point_count - todo);
    int jobs = options->jobs;
    if (jobs < 1 || jobs > 64)
        return error_set(err, "jobs: %d, expected 1..64", jobs);
    worker *workers = calloc(c->point_count ? c->point_count : 1, sizeof *workers);
    if (!workers)
        return error_set(err, "out of memory");
    /* One line per finished point with the curve's time left: a point takes minutes, so a
     * redrawn bar would stand still between them. */
    progress bar;
    progress_start(&bar, c->name, mine, "points"); /* this rank's */
    size_t running = 0, finished = 0, k_done;
    int status = 0;
    for (size_t k = 0; k < c->point_count && status == 0; k++) {
        if (c->points[k].done || !parallel_owns(k)) /* under mpirun: rank k % ranks trains it */
            continue;
        while (running >= (size_t)jobs && status == 0) {
            status = wait_one(c, workers, &running, &k_done, err);
            if (!status)
                point_finished(c, k_done, &bar, ++finished);
        }
        if (status)
            break;
        if ((status = start_point(c, k, options, &workers[k], err)) != 0)
            break;
        running++;
    }
    while (running > 0) { /* also after a failure: never leave workers behind */
        dpkit_error later;
        int s = wait_one(c, workers, &running, &k_done, status ? &later : err);
        if (!status)
            status = s;
        else if (s)
            log_error("%s", later.message); /* err holds the first failure */
        if (!s)
            point_finished(c, k_done, &bar, ++finished);
    }
    free(workers);
    return status;
}

void run_curve_point_stats(const run_curve *c, size_t line, double epsilon, double *mean,
                           double *sd, size_t *n)
{
    double sum = 0, squares = 0;
    *n = 0;
    for (size_t k = 0; k < c->point_count; k++) {
        const run_curve_point *p = &c->points[k];
        if (p->line == line && p->epsilon == epsilon && p->done) {
            sum += 100 * p->accuracy;
            squares += 1e4 * p->accuracy * p->accuracy;
            (*n)++;
        }
    }
    *mean = *n ? sum / (double)*n : NAN;
    *sd = *n > 1 ? sqrt(fmax(squares - sum * sum / (double)*n, 0) / (double)(*n - 1)) : 0;
}

static int write_outputs(const run_curve *c, dpkit_error *err)
{
    char path[4200];
    size_t size = 256 + c->point_count * 400 + c->line_count * c->epsilon_count * 300;
    char *text = malloc(size);
    if (!text)
        return error_set(err, "out of memory");
    size_t used = (size_t)snprintf(text, size, "dataset,model,epsilon,delta,seed,sigma,epochs,"
                                               "test_accuracy,seconds,epsilon_spent\n");
    for (size_t k = 0; k < c->point_count; k++) {
        const run_curve_point *p = &c->points[k];
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
            run_curve_point_stats(c, l, c->epsilons[e], &mean, &sd, &n);
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

    snprintf(path, sizeof path, "%s/curve.png", c->dir);
    return run_curve_plot(c, path, err);
}

int run_curve_run(run_curve *c, const run_curve_options *options, dpkit_error *err)
{
    /* Under mpirun (docs/mpi.md) each rank trains its points, one rank per training; rank 0
     * gathers the points and writes the outputs one process would. */
    int root = parallel_world_rank() == 0;
    if (parallel_agree_world(root && paths_make_directory(c->dir, err), err))
        return -1;
    int alone = parallel_set_alone(1);
    int status = train_points(c, options, err);
    parallel_set_alone(alone);
    if (parallel_agree_world(status, err) ||
        parallel_share_items(c->points, sizeof *c->points, c->point_count, err))
        return -1;
    return parallel_agree_world(root && write_outputs(c, err), err);
}
