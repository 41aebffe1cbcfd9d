/* The figure of a curve (dp/run_curve.h): test accuracy against epsilon, one line per model with
 * the mean over its seeds and the sample standard deviation as error bars, the published values
 * as hollow markers, delta and the accountant in the title, the key below the plot. */
#include "dp/run_curve.h"

#include "common/log.h"
#include "common/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETS 64

/* The accountant line l's trainings used: its training config with the line's overrides (the
 * curve itself only sets epsilon, delta and the seed). "" when the config cannot be read, as
 * when a curve is redrawn without its training configs. */
static void accountant_of(const run_curve *c, size_t l, char *out, size_t size)
{
    const config *line = config_list_item(c->cfg, "runs", l);
    char extra[2048];
    const char *sets[MAX_SETS];
    size_t set_count = 0;
    char *save = NULL;
    snprintf(extra, sizeof extra, "%s", config_get_string(line, "set"));
    for (char *t = strtok_r(extra, " ", &save); t && set_count < MAX_SETS;
         t = strtok_r(NULL, " ", &save))
        sets[set_count++] = t;
    config *training;
    dpkit_error err;
    out[0] = '\0';
    if (config_load_with_overrides(config_get_string(line, "config"), run_config_schema, sets,
                                   set_count, &training, &err)) {
        log_warn("%s: the figure names no accountant for line %s: %s", c->name,
                 config_get_string(line, "label"), err.message);
        return;
    }
    const char *kind = config_get_string(training, "privacy.accountant");
    snprintf(out, size, "%s", strcmp(kind, "rdp") == 0 ? "RDP" : strcmp(kind, "pld") == 0 ? "PLD" : kind);
    config_free(training);
}

/* "mean ± sample sd over 3 seeds", "1 seed", or the range when the epsilons differ. */
static void spread_text(const run_curve *c, size_t l, char *out, size_t size)
{
    size_t low = 0, high = 0;
    for (size_t e = 0; e < c->epsilon_count; e++) {
        double mean, sd;
        size_t n;
        run_curve_point_stats(c, l, c->epsilons[e], &mean, &sd, &n);
        if (n && (low == 0 || n < low))
            low = n;
        high = n > high ? n : high;
    }
    if (high <= 1)
        snprintf(out, size, "1 seed");
    else if (low == high)
        snprintf(out, size, "mean ± sample sd over %zu seeds", high);
    else
        snprintf(out, size, "mean ± sample sd over %zu-%zu seeds", low, high);
}

/* One data file per line: epsilon, mean, sd, seeds. Lines of one seed are drawn without error
 * bars, so that no bar of zero length suggests a spread that was never measured. */
static int put_line(plot *p, FILE *f, const run_curve *c, size_t l, const char *accountant,
                    int accountant_in_key, dpkit_error *err)
{
    const char *name;
    FILE *d = plot_data(p, &name);
    if (!d)
        return error_set(err, "plot: more than %d data files for curve %s", PLOT_MAX_FILES,
                         c->name);
    fprintf(d, "# %s: epsilon, mean test accuracy (%%), sample sd (%%), seeds\n",
            config_get_string(config_list_item(c->cfg, "runs", l), "label"));
    size_t most = 0;
    for (size_t e = 0; e < c->epsilon_count; e++) {
        double mean, sd;
        size_t n;
        run_curve_point_stats(c, l, c->epsilons[e], &mean, &sd, &n);
        if (n)
            fprintf(d, "%.17g\t%.17g\t%.17g\t%zu\n", c->epsilons[e], mean, sd, n);
        most = n > most ? n : most;
    }
    fclose(d);
    char spread[80], title[1600];
    spread_text(c, l, spread, sizeof spread);
    snprintf(title, sizeof title, "%s (%s%s%s)",
             config_get_string(config_list_item(c->cfg, "runs", l), "label"), spread,
             accountant_in_key && accountant[0] ? ", " : "", accountant_in_key ? accountant : "");
    plot_quoted(f, name);
    if (most > 1)
        fprintf(f, " using 1:2:3 with yerrorlines lw 2 pt 7 lc %zu title ", l + 1);
    else
        fprintf(f, " using 1:2 with linespoints lw 2 pt 7 lc %zu title ", l + 1);
    plot_quoted(f, title);
    return 0;
}

int run_curve_plot(const run_curve *c, const char *png_path, dpkit_error *err)
{
    /* every line has a data file of its own */
    if (c->line_count > PLOT_MAX_FILES)
        return error_set(err, "plot: curve %s has %zu lines, at most %d can be drawn", c->name,
                         c->line_count, PLOT_MAX_FILES);
    char accountants[PLOT_MAX_FILES][16];
    int same_accountant = 1;
    size_t papers = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        accountant_of(c, l, accountants[l], sizeof accountants[l]);
        same_accountant &= strcmp(accountants[l], accountants[0]) == 0;
        papers += config_get_double(config_list_item(c->cfg, "runs", l), "paper") >= 0;
    }
    char title[400];
    if (same_accountant && accountants[0][0])
        snprintf(title, sizeof title, "%s: test accuracy against ε (δ = %g, %s accountant)",
                 c->name, c->delta, accountants[0]);
    else
        snprintf(title, sizeof title, "%s: test accuracy against ε (δ = %g)", c->name, c->delta);
    plot *p;
    if (plot_begin(&p, png_path, title, err))
        return -1;
    FILE *f = plot_script(p);
    /* The key goes below the plot so that it covers no line or marker. */
    fputs("set xlabel 'ε'\nset ylabel 'test accuracy (%)'\n"
          "set key outside below center vertical Left reverse\n"
          "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\nplot ", f);
    /* Published values of several lines often coincide (the same ε, close accuracies): each
     * marker gets a point type of its own and they are drawn side by side along ε. */
    static const int marker_types[] = {12, 8, 10, 4, 6, 14};
    double low = c->epsilons[0], high = c->epsilons[0];
    for (size_t e = 0; e < c->epsilon_count; e++) {
        low = fmin(low, c->epsilons[e]);
        high = fmax(high, c->epsilons[e]);
    }
    double step = papers > 1 ? 0.04 * (high > low ? high - low : c->paper_epsilon) : 0;
    size_t rank = 0;
    for (size_t l = 0; l < c->line_count; l++) {
        const config *line = config_list_item(c->cfg, "runs", l);
        if (l)
            fputs(", ", f);
        if (put_line(p, f, c, l, accountants[l], !same_accountant, err)) {
            plot_abort(p);
            return -1;
        }
        double paper = config_get_double(line, "paper");
        if (paper < 0)
            continue;
        const char *name;
        FILE *m = plot_data(p, &name);
        if (!m) {
            plot_abort(p);
            return error_set(err, "plot: more than %d data files for curve %s", PLOT_MAX_FILES,
                             c->name);
        }
        double x = c->paper_epsilon + step * ((double)rank - 0.5 * (double)(papers - 1));
        fprintf(m, "# %s, paper: epsilon as drawn, epsilon, accuracy (%%)\n%.17g\t%.17g\t%.17g\n",
                config_get_string(line, "label"), x, c->paper_epsilon, paper);
        fclose(m);
        char label[300];
        snprintf(label, sizeof label, "%s: paper, ε = %g", config_get_string(line, "label"),
                 c->paper_epsilon);
        fputs(", ", f);
        plot_quoted(f, name);
        fprintf(f, " using 1:3 with points pt %d ps 2 lw 2 lc %zu title ",
                marker_types[rank % (sizeof marker_types / sizeof marker_types[0])], l + 1);
        plot_quoted(f, label);
        rank++;
    }
    if (papers > 1)
        fprintf(f, ", keyentry with points pt -1 title 'paper values drawn side by side around "
                   "ε = %g'", c->paper_epsilon);
    fputc('\n', f);
    return plot_finish(p, err);
}

int run_curve_redraw(run_curve *c, const char *csv_path, dpkit_error *err)
{
    char path[4200];
    size_t length = strlen(csv_path);
    if (length < 5 || strcmp(csv_path + length - 4, ".csv") != 0)
        return error_set(err, "%s: expected a file name ending in .csv", csv_path);
    if (run_curve_read_csv(c, csv_path, err))
        return -1;
    snprintf(path, sizeof path, "%.*s.png", (int)(length - 4), csv_path);
    return run_curve_plot(c, path, err);
}
