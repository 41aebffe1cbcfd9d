/* The outputs of the robustness experiment (robust/robustness.h): report.json, robustness.h5
 * (every input's label, clean prediction, result under attack and certificate) and the figures
 * robust.png (robust accuracy against the radius, one line per model) and privacy.png (robust
 * accuracy at attack.figure_epsilon against the model's DP epsilon, one line per `line`). */
#include "robust/robustness.h"

#include "common/h5io.h"
#include "common/json.h"
#include "common/paths.h"
#include "common/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key: [{x_name: x[i], "accuracy": accuracy[i]}, ...], an accuracy at each radius. */
static void accuracy_curve(json_writer *w, const char *key, const char *x_name, const double *x,
                           const double *accuracy, size_t count)
{
    json_key(w, key);
    json_begin_array(w);
    for (size_t i = 0; i < count; i++) {
        json_begin_object(w);
        json_field_double(w, x_name, x[i]);
        json_field_double(w, "accuracy", accuracy[i]);
        json_end_object(w);
    }
    json_end_array(w);
}

static void model_json(json_writer *w, const robustness *r, const robustness_model *rm)
{
    json_begin_object(w);
    json_field_string(w, "label", rm->label);
    json_field_string(w, "line", rm->line);
    json_field_string(w, "model", rm->path);
    json_field_string(w, "dataset", rm->dataset);
    if (isinf(rm->dp_epsilon))
        json_field_string(w, "dp_epsilon", "inf");
    else
        json_field_double(w, "dp_epsilon", rm->dp_epsilon);
    json_field_double(w, "delta", rm->delta);
    json_field_int(w, "inputs", (long long)rm->count);
    json_field_double(w, "clean_accuracy", rm->clean_accuracy);
    accuracy_curve(w, "robust_accuracy", "epsilon", r->epsilons, rm->robust_accuracy,
                   r->epsilon_count);
    if (rm->certified_count) {
        json_field_int(w, "certified_inputs", (long long)rm->certified_count);
        accuracy_curve(w, "certified_accuracy", "radius", r->radii, rm->certified_accuracy,
                       r->radius_count);
        json_field_int(w, "certificates_attacked", (long long)rm->certificate_checks);
        json_field_int(w, "certificates_broken", (long long)rm->certificate_violations);
    }
    json_field_double(w, "seconds", rm->seconds);
    json_end_object(w);
}

static int write_report(const robustness *r, const char *path, dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "report", err))
        return -1;
    json_field_string(&w, "name", r->name);
    json_field_string(&w, "attack", r->cw ? "cw-l2" : r->pgd.norm == DP_ATTACK_L2 ? "pgd-l2"
                                                                                 : "pgd-linf");
    if (!r->cw) {
        json_field_int(&w, "steps", r->pgd.steps);
        json_field_double(&w, "step", r->pgd.step);
        json_field_bool(&w, "random_start", r->pgd.random_start);
        json_field_string(&w, "loss", r->pgd.margin_loss ? "margin" : "cross-entropy");
    } else {
        json_field_int(&w, "cw_steps", r->cw_config.steps);
        json_field_int(&w, "cw_search_steps", r->cw_config.search_steps);
    }
    json_field_string(&w, "split", r->split);
    if (r->smoothing_count) {
        json_field_double(&w, "smoothing_sigma", r->smoothing.sigma);
        json_field_int(&w, "smoothing_n", (long long)r->smoothing.n);
        json_field_double(&w, "smoothing_alpha", r->smoothing.alpha);
    }
    json_key(&w, "models");
    json_begin_array(&w);
    for (size_t m = 0; m < r->model_count; m++)
        model_json(&w, r, &r->models[m]);
    json_end_array(&w);
    json_field_string(&w, "per_input", "robustness.h5");
    json_field_string(&w, "robust_plot", "robust.png");
    json_field_string(&w, "privacy_plot", "privacy.png");
    json_field_string(&w, "dpkit_version", DPKIT_VERSION);
    return json_document_write(&w, path, err);
}

static int write_inputs(const robustness *r, const char *path, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_create(path, &f, err))
        return -1;
    size_t radii[1] = {r->epsilon_count};
    int status = h5io_write_array(f, "/epsilons", H5IO_FLOAT64, 1, radii, r->epsilons, err);
    for (size_t m = 0; !status && m < r->model_count; m++) {
        const robustness_model *rm = &r->models[m];
        char g[64], p[96];
        snprintf(g, sizeof g, "/model%zu", m);
        size_t n[1] = {rm->count}, grid[2] = {r->epsilon_count, rm->count};
        size_t c[1] = {rm->certified_count};
        status = h5io_ensure_group(f, g, err) ||
                 h5io_write_attr_string(f, g, "label", rm->label, err) ||
                 h5io_write_attr_string(f, g, "model", rm->path, err) ||
                 h5io_write_attr_double(f, g, "dp_epsilon", rm->dp_epsilon, err);
        snprintf(p, sizeof p, "%s/labels", g);
        status = status || h5io_write_array(f, p, H5IO_INT32, 1, n, rm->labels, err);
        snprintf(p, sizeof p, "%s/clean_predictions", g);
        status = status || h5io_write_array(f, p, H5IO_INT32, 1, n, rm->clean, err);
        snprintf(p, sizeof p, "%s/robust", g);
        status = status || h5io_write_array(f, p, H5IO_UINT8, 2, grid, rm->robust, err);
        snprintf(p, sizeof p, "%s/cw_l2", g);
        status = status || (rm->l2 && h5io_write_array(f, p, H5IO_FLOAT64, 1, n, rm->l2, err));
        snprintf(p, sizeof p, "%s/smoothed_predictions", g);
        status = status || (rm->certified_count &&
                            h5io_write_array(f, p, H5IO_INT32, 1, c, rm->smoothed, err));
        snprintf(p, sizeof p, "%s/certified_radius", g);
        status = status || (rm->certified_count &&
                            h5io_write_array(f, p, H5IO_FLOAT64, 1, c, rm->radius, err));
    }
    return h5io_finish(f, status, err);
}

static int robust_figure(const robustness *r, const char *png, dpkit_error *err)
{
    char title[300];
    snprintf(title, sizeof title, "%s: accuracy under %s", r->name,
             r->cw ? "C&W L2" : r->pgd.norm == DP_ATTACK_L2 ? "PGD L2" : "PGD L∞");
    plot *p;
    if (plot_begin(&p, png, title, err))
        return -1;
    FILE *s = plot_script(p);
    fprintf(s, "set xlabel 'perturbation radius'\nset ylabel 'accuracy (%%)'\n"
               "set yrange [0:100]\nset key outside below\nplot ");
    for (size_t m = 0; m < r->model_count; m++) {
        const char *name;
        FILE *d = plot_data(p, &name);
        if (!d) {
            plot_abort(p);
            return error_set(err, "plot: too many models for one figure");
        }
        fprintf(d, "# %s: radius, accuracy (%%)\n", r->models[m].label);
        for (size_t e = 0; e < r->epsilon_count; e++)
            fprintf(d, "%.17g\t%.17g\n", r->epsilons[e], 100 * r->models[m].robust_accuracy[e]);
        fclose(d);
        fprintf(s, "%s", m ? ", " : "");
        plot_quoted(s, name);
        fprintf(s, " using 1:2 with linespoints lw 2 pt 7 title ");
        plot_quoted(s, r->models[m].label);
    }
    fprintf(s, "\n");
    return plot_finish(p, err);
}

/* One line per distinct `line`; a non-private model (epsilon +inf) is drawn at the right end,
 * labelled ∞. */
static int privacy_figure(const robustness *r, const char *png, dpkit_error *err)
{
    size_t e = 0;
    while (r->epsilons[e] != r->figure_epsilon)
        e++;
    double top = 1, low = 1;
    for (size_t m = 0; m < r->model_count; m++)
        if (isfinite(r->models[m].dp_epsilon)) {
            top = fmax(top, r->models[m].dp_epsilon);
            low = fmin(low, r->models[m].dp_epsilon);
        }
    double inf_x = 2 * top;
    char title[300];
    snprintf(title, sizeof title, "%s: robust accuracy at radius %g against DP ε", r->name,
             r->figure_epsilon);
    plot *p;
    if (plot_begin(&p, png, title, err))
        return -1;
    FILE *s = plot_script(p);
    fprintf(s, "set xlabel 'DP ε (∞: not private)'\nset ylabel 'robust accuracy (%%)'\n"
               "set yrange [0:100]\nset logscale x\nset xrange [%g:%g]\nset key outside below\n"
               "set xtics add ('∞' %g)\nplot ", low / 1.5, 1.5 * inf_x, inf_x);
    int first = 1;
    for (size_t m = 0; m < r->model_count; m++) {
        int seen = 0;
        for (size_t k = 0; k < m; k++)
            seen |= strcmp(r->models[k].line, r->models[m].line) == 0;
        if (seen)
            continue;
        const char *name;
        FILE *d = plot_data(p, &name);
        if (!d) {
            plot_abort(p);
            return error_set(err, "plot: too many lines for one figure");
        }
        fprintf(d, "# %s: DP epsilon (non-private at %g), robust accuracy (%%)\n",
                r->models[m].line, inf_x);
        for (size_t k = m; k < r->model_count; k++)
            if (strcmp(r->models[k].line, r->models[m].line) == 0)
                fprintf(d, "%.17g\t%.17g\n",
                        isinf(r->models[k].dp_epsilon) ? inf_x : r->models[k].dp_epsilon,
                        100 * r->models[k].robust_accuracy[e]);
        fclose(d);
        fprintf(s, "%s", first ? "" : ", ");
        first = 0;
        plot_quoted(s, name);
        fprintf(s, " using 1:2 with linespoints lw 2 pt 7 title ");
        plot_quoted(s, r->models[m].line);
    }
    fprintf(s, "\n");
    return plot_finish(p, err);
}

int robustness_write(const robustness *r, dpkit_error *err)
{
    char path[2200];
    if (paths_make_directory(r->dir, err))
        return -1;
    snprintf(path, sizeof path, "%s/robustness.h5", r->dir);
    if (write_inputs(r, path, err))
        return -1;
    snprintf(path, sizeof path, "%s/robust.png", r->dir);
    if (robust_figure(r, path, err))
        return -1;
    snprintf(path, sizeof path, "%s/privacy.png", r->dir);
    if (privacy_figure(r, path, err))
        return -1;
    snprintf(path, sizeof path, "%s/report.json", r->dir);
    return write_report(r, path, err);
}
