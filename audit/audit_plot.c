/* Audit plots (common/plot.h, gnuplot): a log-log ROC curve and exposure against
 * insertion count. Data and script go to a temporary directory; the PNG is written beside its
 * final name and renamed once it is checked. */
#include "audit/audit_internal.h"

#include "common/plot.h"

#include <math.h>
#include <stdio.h>

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
    fputs("set logscale xy\nset xrange [1e-5:1]\nset yrange [1e-5:1]\n"
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

int audit_plot_exposure(const char *png_path, const double *insertions, size_t insertion_count,
                        const double *epsilons, size_t epsilon_count, const double *exposure,
                        const char *title, dpkit_error *err)
{
    if (insertion_count == 0 || epsilon_count == 0 || epsilon_count > PLOT_MAX_CURVES)
        return error_set(err, "plot: %zu insertion counts and %zu epsilons, expected >= 1 and "
                         "1..%d", insertion_count, epsilon_count, PLOT_MAX_CURVES);
    int log_x = 1;
    for (size_t i = 0; i < insertion_count; i++) {
        if (!isfinite(insertions[i]) || insertions[i] < 0)
            return error_set(err, "plot: insertion count %zu is %g, expected a finite "
                             "number >= 0", i, insertions[i]);
        log_x &= insertions[i] > 0;
    }
    plot *p;
    if (plot_begin(&p, png_path, title, err))
        return -1;
    FILE *f = plot_script(p);
    fprintf(f, "%sset xlabel 'Insertions of the canary'\nset ylabel 'Exposure (bits)'\n"
               "set yrange [0:*]\nplot ", log_x ? "set logscale x 2\n" : "");
    for (size_t e = 0; e < epsilon_count; e++) {
        const char *data;
        FILE *d = plot_data(p, &data);
        if (!d) {
            plot_abort(p);
            return error_set(err, "plot: cannot write data for epsilon %zu", e);
        }
        for (size_t i = 0; i < insertion_count; i++) {
            double y = exposure[e * insertion_count + i];
            if (isfinite(y))
                fprintf(d, "%.17g %.17g\n", insertions[i], y);
        }
        fclose(d);
        char label[64];
        if (isinf(epsilons[e]))
            snprintf(label, sizeof label, "no DP");
        else
            snprintf(label, sizeof label, "eps = %g", epsilons[e]);
        plot_quoted(f, data);
        fputs(" using 1:2 with linespoints lw 2 pt 7 title ", f);
        plot_quoted(f, label);
        fputs(e + 1 < epsilon_count ? ", " : "\n", f);
    }
    return plot_finish(p, err);
}
