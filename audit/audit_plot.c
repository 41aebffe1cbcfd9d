/* Audit figures (common/plot.h, gnuplot): log-log ROC curves, exposure against insertion count
 * and histograms of audit scores. Each figure keeps its script and data beside it. */
#include "audit/audit_internal.h"

#include "common/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLOT_MAX_CURVES 60

int audit_plot_roc(const char *png_path, const audit_roc *curves, const char *const *labels,
                   size_t curve_count, const char *title, dpkit_error *err)
{
    if (curve_count == 0 || curve_count > PLOT_MAX_CURVES)
        return error_set(err, "plot: %zu ROC curves, expected 1..%d", curve_count,
                         PLOT_MAX_CURVES);
    plot *p;
    if (plot_begin(&p, png_path, title, err))
        return -1;
    FILE *f = plot_script(p);
    /* Below the diagonal, bottom right, no attack worth plotting has points. */
    fputs("set key right bottom\nset logscale xy\nset xrange [1e-5:1]\nset yrange [1e-5:1]\n"
          "set format x '10^{%L}'\nset format y '10^{%L}'\n"
          "set xlabel 'False positive rate'\nset ylabel 'True positive rate'\nplot ", f);
    for (size_t c = 0; c < curve_count; c++) {
        const char *data;
        FILE *d = plot_data(p, &data);
        if (!d) {
            plot_abort(p);
            return error_set(err, "plot: cannot write data for ROC curve %zu", c);
        }
        /* Log axes cannot show zero rates; every curve still ends at (1, 1). */
        for (size_t i = 0; i < curves[c].points; i++)
            if (curves[c].fpr[i] > 0 && curves[c].tpr[i] > 0)
                fprintf(d, "%.17g %.17g\n", curves[c].fpr[i], curves[c].tpr[i]);
        fclose(d);
        plot_quoted(f, data);
        fputs(" using 1:2 with lines lw 2 title ", f);
        char fallback[64];
        snprintf(fallback, sizeof fallback, "AUC %.3f", curves[c].auc);
        plot_quoted(f, labels && labels[c] ? labels[c] : fallback);
        fputs(", ", f);
    }
    fputs("x with lines dashtype 2 lc rgb 'gray' notitle\n", f);
    return plot_finish(p, err);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Where insertion count n is drawn on the log2 axis: 0 at half the smallest count > 0 (its tic
 * is labelled 0), and each model's points shifted a little so that equal values stay apart. */
static double drawn_at(double n, double zero_at, double shift)
{
    return (n > 0 ? n : zero_at) * exp2(shift);
}

int audit_plot_exposure(const char *png_path, const audit_exposure_plot *e, const char *title,
                        dpkit_error *err)
{
    if (e->canary_count == 0 || e->model_count == 0 || e->model_count > PLOT_MAX_CURVES)
        return error_set(err, "plot: %zu canaries and %zu models, expected >= 1 and 1..%d",
                         e->canary_count, e->model_count, PLOT_MAX_CURVES);
    double smallest = INFINITY;
    for (size_t j = 0; j < e->canary_count; j++) {
        if (!isfinite(e->insertions[j]) || e->insertions[j] < 0)
            return error_set(err, "plot: insertion count of canary %zu is %g, expected a finite "
                             "number >= 0", j, e->insertions[j]);
        if (e->insertions[j] > 0)
            smallest = fmin(smallest, e->insertions[j]);
    }
    /* the distinct insertion counts, for the lines through the means */
    double *counts = malloc(e->canary_count * sizeof *counts);
    if (!counts)
        return error_set(err, "plot: out of memory");
    memcpy(counts, e->insertions, e->canary_count * sizeof *counts);
    qsort(counts, e->canary_count, sizeof *counts, compare_doubles);
    size_t distinct = 0;
    for (size_t j = 0; j < e->canary_count; j++)
        if (distinct == 0 || counts[j] != counts[distinct - 1])
            counts[distinct++] = counts[j];
    int log_x = isfinite(smallest);
    double zero_at = log_x ? smallest / 2 : 0;
    plot *p;
    if (plot_begin(&p, png_path, title, err)) {
        free(counts);
        return -1;
    }
    FILE *f = plot_script(p);
    fputs("set xlabel 'Insertions of the canary'\nset ylabel 'Exposure (bits)'\n"
          "set key outside below center vertical Left reverse\nset yrange [0:*]\n", f);
    if (log_x)
        fputs("set logscale x 2\nset offsets graph 0.03, graph 0.03, 0, 0\n", f);
    if (log_x && counts[0] == 0)
        fprintf(f, "set xtics add ('0' %.17g)\n", zero_at);
    fputs("plot ", f);
    int status = 0;
    for (size_t m = 0; m < e->model_count && status == 0; m++) {
        double shift = log_x ? 0.08 * ((double)m - 0.5 * (double)(e->model_count - 1)) : 0;
        const double *row = e->exposure + m * e->canary_count;
        const char *points_name, *means_name;
        FILE *points = plot_data(p, &points_name);
        FILE *means = points ? plot_data(p, &means_name) : NULL;
        if (!means) {
            if (points)
                fclose(points);
            status = error_set(err, "plot: cannot write data for model %zu", m);
            break;
        }
        fputs("# canary, insertions as drawn, insertions, exposure (bits)\n", points);
        for (size_t j = 0; j < e->canary_count; j++)
            if (isfinite(row[j]))
                fprintf(points, "%zu\t%.17g\t%.17g\t%.17g\n", j,
                        drawn_at(e->insertions[j], zero_at, shift), e->insertions[j], row[j]);
        fclose(points);
        fputs("# insertions as drawn, insertions, mean exposure (bits), canaries\n", means);
        for (size_t i = 0; i < distinct; i++) {
            double sum = 0;
            size_t n = 0;
            for (size_t j = 0; j < e->canary_count; j++)
                if (e->insertions[j] == counts[i] && isfinite(row[j]))
                    sum += row[j], n++;
            if (n)
                fprintf(means, "%.17g\t%.17g\t%.17g\t%zu\n",
                        drawn_at(counts[i], zero_at, shift), counts[i], sum / (double)n, n);
        }
        fclose(means);
        char label[96];
        if (isinf(e->epsilons[m]))
            snprintf(label, sizeof label, "no DP");
        else
            snprintf(label, sizeof label, "ε = %g", e->epsilons[m]);
        char mean_label[160];
        snprintf(mean_label, sizeof mean_label, "%s: mean over the canaries of each count", label);
        if (m)
            fputs(", ", f);
        plot_quoted(f, means_name);
        fprintf(f, " using 1:3 with lines lw 2 lc %zu title ", m + 1);
        plot_quoted(f, mean_label);
        fputs(", ", f);
        plot_quoted(f, points_name);
        fprintf(f, " using 2:4 with points pt %zu ps 1.2 lc %zu title ", 4 + 2 * (m % 4), m + 1);
        snprintf(mean_label, sizeof mean_label, "%s: each canary", label);
        plot_quoted(f, mean_label);
    }
    free(counts);
    if (status) {
        plot_abort(p);
        return -1;
    }
    if (isfinite(e->ceiling))
        fprintf(f, ", %.17g with lines dashtype 2 lw 2 lc rgb 'black' title "
                   "'log_2 |R| = %.1f bits: the most exposure can be'",
                e->ceiling, e->ceiling);
    fputc('\n', f);
    return plot_finish(p, err);
}

int audit_plot_scores(const char *png_path, const audit_score_plot *s, const char *title,
                      dpkit_error *err)
{
    if (s->count == 0 || s->cutoff_count > PLOT_MAX_CURVES)
        return error_set(err, "plot: %zu scores and %zu cut-offs, expected >= 1 and 0..%d",
                         s->count, s->cutoff_count, PLOT_MAX_CURVES);
    double low = INFINITY, high = -INFINITY;
    size_t sizes[2] = {0, 0};
    for (size_t i = 0; i < s->count; i++) {
        if (!isfinite(s->scores[i]))
            return error_set(err, "plot: score %zu is %g, expected a finite number", i,
                             s->scores[i]);
        low = fmin(low, s->scores[i]);
        high = fmax(high, s->scores[i]);
        sizes[s->truth[i] != 0]++;
    }
    /* About two bins per square root of the larger group, 5 to 60 of them. */
    size_t larger = sizes[0] > sizes[1] ? sizes[0] : sizes[1];
    size_t bins = (size_t)ceil(2 * sqrt((double)larger));
    bins = bins < 5 ? 5 : bins > 60 ? 60 : bins;
    double width = high > low ? (high - low) / (double)bins : 1;
    if (!(high > low))
        low -= 0.5 * (double)bins * width;
    size_t *histogram = calloc(2 * bins, sizeof *histogram);
    if (!histogram)
        return error_set(err, "plot: out of memory");
    for (size_t i = 0; i < s->count; i++) {
        size_t b = (size_t)((s->scores[i] - low) / width);
        histogram[2 * (b < bins ? b : bins - 1) + (s->truth[i] != 0)]++;
    }
    plot *p;
    if (plot_begin(&p, png_path, title, err)) {
        free(histogram);
        return -1;
    }
    const char *name, *cuts = NULL;
    FILE *d = plot_data(p, &name);
    FILE *c = d && s->cutoff_count ? plot_data(p, &cuts) : NULL;
    if (!d || (s->cutoff_count && !c)) {
        if (d)
            fclose(d);
        free(histogram);
        plot_abort(p);
        return error_set(err, "plot: cannot write the histogram data");
    }
    fprintf(d, "# bin centre, bin low, bin high, count %s, count %s\n", s->label_in,
            s->label_out);
    size_t tallest = 1;
    for (size_t b = 0; b < bins; b++) {
        fprintf(d, "%.17g\t%.17g\t%.17g\t%zu\t%zu\n", low + ((double)b + 0.5) * width,
                low + (double)b * width, low + (double)(b + 1) * width, histogram[2 * b + 1],
                histogram[2 * b]);
        tallest = histogram[2 * b] > tallest ? histogram[2 * b] : tallest;
        tallest = histogram[2 * b + 1] > tallest ? histogram[2 * b + 1] : tallest;
    }
    fclose(d);
    free(histogram);
    FILE *f = plot_script(p);
    fprintf(f, "set xlabel ");
    plot_quoted(f, s->xlabel ? s->xlabel : "score");
    fprintf(f, "\nset ylabel 'count'\nset yrange [0:%zu]\nset boxwidth %.17g absolute\n"
               "set style fill transparent solid 0.45 border -1\n"
               "set key outside below center vertical Left reverse\nplot ",
            tallest + 1 + tallest / 5, width);
    char label[300];
    snprintf(label, sizeof label, "%s (%zu)", s->label_in, sizes[1]);
    plot_quoted(f, name);
    fputs(" using 1:4 with boxes lc rgb '#d95f02' title ", f);
    plot_quoted(f, label);
    snprintf(label, sizeof label, "%s (%zu)", s->label_out, sizes[0]);
    fputs(", ", f);
    plot_quoted(f, name);
    fputs(" using 1:5 with boxes lc rgb '#1b9e77' title ", f);
    plot_quoted(f, label);
    if (c) {
        /* one block per cut-off: a vertical line from the axis to the top of the plot */
        fputs("# score, count: the two ends of each cut-off's line\n", c);
        for (size_t k = 0; k < s->cutoff_count; k++)
            fprintf(c, "%s%.17g\t0\n%.17g\t%zu\n", k ? "\n\n" : "", s->cutoffs[k], s->cutoffs[k],
                    tallest + 1 + tallest / 5);
        fclose(c);
        for (size_t k = 0; k < s->cutoff_count; k++) {
            fputs(", ", f);
            plot_quoted(f, cuts);
            fprintf(f, " index %zu using 1:2 with lines dashtype %zu lw 2 lc rgb 'black' title ",
                    k, 2 + k % 4);
            plot_quoted(f, s->cutoff_labels ? s->cutoff_labels[k] : "cut-off");
        }
    }
    fputc('\n', f);
    return plot_finish(p, err);
}
