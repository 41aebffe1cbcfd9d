/* Audit plots through gnuplot (an external program): a log-log ROC curve and exposure against
 * insertion count. Data and script go to a temporary directory; the PNG is written beside its
 * final name and renamed once it is checked. */
#include "audit/audit_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PLOT_MAX_FILES 64

/* A scratch directory and the files made in it, removed together. */
typedef struct plot_scratch {
    char dir[512];
    char files[PLOT_MAX_FILES][600];
    size_t file_count;
} plot_scratch;

static int scratch_create(plot_scratch *s, dpkit_error *err)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/dpkit-plot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    s->file_count = 0;
    if (!mkdtemp(s->dir))
        return error_set(err, "plot: cannot create a temporary directory %s: %s", s->dir,
                         strerror(errno));
    return 0;
}

static const char *scratch_file(plot_scratch *s, const char *name)
{
    size_t dir_length = strlen(s->dir), name_length = strlen(name);
    if (s->file_count == PLOT_MAX_FILES || dir_length + name_length + 2 > sizeof s->files[0])
        return NULL;
    char *path = s->files[s->file_count++];
    memcpy(path, s->dir, dir_length);
    path[dir_length] = '/';
    memcpy(path + dir_length + 1, name, name_length + 1);
    return path;
}

static void scratch_remove(plot_scratch *s)
{
    for (size_t i = 0; i < s->file_count; i++)
        unlink(s->files[i]);
    rmdir(s->dir);
}

/* Finds gnuplot on PATH. */
static int find_gnuplot(char *path, size_t size, dpkit_error *err)
{
    const char *search = getenv("PATH");
    if (search) {
        const char *p = search;
        while (*p) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len > 0 && len + 9 < size) {
                snprintf(path, size, "%.*s/gnuplot", (int)len, p);
                if (access(path, X_OK) == 0)
                    return 0;
            }
            p += len + (end ? 1 : 0);
        }
    }
    return error_set(err, "plot: gnuplot not found on PATH; install it (Debian package "
                     "gnuplot-nox) to make PNG plots");
}

/* Writes a gnuplot single-quoted string ('' stands for a quote). */
static void put_quoted(FILE *f, const char *text)
{
    fputc('\'', f);
    for (const char *c = text ? text : ""; *c; c++) {
        if (*c == '\'')
            fputc('\'', f);
        if (*c != '\n')
            fputc(*c, f);
    }
    fputc('\'', f);
}

/* Preamble: pngcairo when this gnuplot has it, else the libgd png terminal. */
static void put_terminal(FILE *f, const char *png, const char *title)
{
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size 800,600 font 'sans,11'\n"
          "} else {\n"
          "  set terminal png size 800,600\n"
          "}\nset output ", f);
    put_quoted(f, png);
    fputs("\nset grid\nset key left top\n", f);
    if (title) {
        fputs("set title ", f);
        put_quoted(f, title);
        fputc('\n', f);
    }
}

static int check_png(const char *path, dpkit_error *err)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, "plot: gnuplot wrote no image %s", path);
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (got != sizeof head || memcmp(head, signature, sizeof head) != 0)
        return error_set(err, "plot: %s is not a PNG image", path);
    return 0;
}

/* Runs gnuplot on the script (output to log) and moves the checked PNG into place. */
static int run_gnuplot(plot_scratch *s, const char *script, const char *part,
                       const char *png_path, dpkit_error *err)
{
    char gnuplot[1024];
    if (find_gnuplot(gnuplot, sizeof gnuplot, err))
        return -1;
    const char *log_path = scratch_file(s, "gnuplot.log");
    if (!log_path)
        return error_set(err, "plot: temporary directory name %s too long", s->dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char *argv[] = {gnuplot, (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, gnuplot, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return error_set(err, "plot: cannot run %s: %s", gnuplot, strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char message[400] = "";
        FILE *f = fopen(log_path, "r");
        if (f) {
            size_t got = fread(message, 1, sizeof message - 1, f);
            message[got] = '\0';
            fclose(f);
        }
        unlink(part);
        return error_set(err, "plot: gnuplot failed (status %d) on %s: %s", status, png_path,
                         message);
    }
    if (check_png(part, err)) {
        unlink(part);
        return -1;
    }
    if (rename(part, png_path) != 0) {
        int e = errno;
        unlink(part);
        return error_set(err, "plot: cannot write %s: %s", png_path, strerror(e));
    }
    return 0;
}

static int begin(plot_scratch *s, const char *png_path, char *part, size_t part_size,
                 const char **script, FILE **f, dpkit_error *err)
{
    if (!png_path || !*png_path)
        return error_set(err, "plot: no output file name");
    if (scratch_create(s, err))
        return -1;
    snprintf(part, part_size, "%s.part-%ld", png_path, (long)getpid());
    *script = scratch_file(s, "plot.gp");
    *f = *script ? fopen(*script, "w") : NULL;
    if (!*f) {
        scratch_remove(s);
        return error_set(err, "plot: cannot write a gnuplot script in %s", s->dir);
    }
    return 0;
}

static FILE *open_data(plot_scratch *s, size_t index, const char **path)
{
    char name[32];
    snprintf(name, sizeof name, "data%zu.dat", index);
    *path = scratch_file(s, name);
    return *path ? fopen(*path, "w") : NULL;
}

int audit_plot_roc(const char *png_path, const audit_roc *curves, const char *const *labels,
                   size_t curve_count, const char *title, dpkit_error *err)
{
    if (curve_count == 0 || curve_count > PLOT_MAX_FILES - 4)
        return error_set(err, "plot: %zu ROC curves, expected 1..%d", curve_count,
                         PLOT_MAX_FILES - 4);
    plot_scratch s;
    char part[1100];
    const char *script;
    FILE *f;
    if (begin(&s, png_path, part, sizeof part, &script, &f, err))
        return -1;
    put_terminal(f, part, title);
    fputs("set logscale xy\nset xrange [1e-5:1]\nset yrange [1e-5:1]\n"
          "set format x '10^{%L}'\nset format y '10^{%L}'\n"
          "set xlabel 'False positive rate'\nset ylabel 'True positive rate'\nplot ", f);
    int status = 0;
    for (size_t c = 0; c < curve_count && status == 0; c++) {
        const char *data;
        FILE *d = open_data(&s, c, &data);
        if (!d) {
            status = error_set(err, "plot: cannot write data for ROC curve %zu", c);
            break;
        }
        /* Log axes cannot show zero rates; every curve still ends at (1, 1). */
        for (size_t i = 0; i < curves[c].points; i++)
            if (curves[c].fpr[i] > 0 && curves[c].tpr[i] > 0)
                fprintf(d, "%.17g %.17g\n", curves[c].fpr[i], curves[c].tpr[i]);
        fclose(d);
        put_quoted(f, data);
        fputs(" using 1:2 with lines lw 2 title ", f);
        char fallback[64];
        snprintf(fallback, sizeof fallback, "AUC %.3f", curves[c].auc);
        put_quoted(f, labels && labels[c] ? labels[c] : fallback);
        fputs(", ", f);
    }
    fputs("x with lines dashtype 2 lc rgb 'gray' notitle\n", f);
    fclose(f);
    if (status == 0)
        status = run_gnuplot(&s, script, part, png_path, err);
    scratch_remove(&s);
    return status;
}

int audit_plot_exposure(const char *png_path, const double *insertions, size_t insertion_count,
                        const double *epsilons, size_t epsilon_count, const double *exposure,
                        const char *title, dpkit_error *err)
{
    if (insertion_count == 0 || epsilon_count == 0 || epsilon_count > PLOT_MAX_FILES - 4)
        return error_set(err, "plot: %zu insertion counts and %zu epsilons, expected >= 1 and "
                         "1..%d", insertion_count, epsilon_count, PLOT_MAX_FILES - 4);
    int log_x = 1;
    for (size_t i = 0; i < insertion_count; i++) {
        if (!isfinite(insertions[i]) || insertions[i] < 0)
            return error_set(err, "plot: insertion count %zu is %g, expected a finite "
                             "number >= 0", i, insertions[i]);
        log_x &= insertions[i] > 0;
    }
    plot_scratch s;
    char part[1100];
    const char *script;
    FILE *f;
    if (begin(&s, png_path, part, sizeof part, &script, &f, err))
        return -1;
    put_terminal(f, part, title);
    fprintf(f, "%sset xlabel 'Insertions of the canary'\nset ylabel 'Exposure (bits)'\n"
               "set yrange [0:*]\nplot ", log_x ? "set logscale x 2\n" : "");
    int status = 0;
    for (size_t e = 0; e < epsilon_count && status == 0; e++) {
        const char *data;
        FILE *d = open_data(&s, e, &data);
        if (!d) {
            status = error_set(err, "plot: cannot write data for epsilon %zu", e);
            break;
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
        put_quoted(f, data);
        fputs(" using 1:2 with linespoints lw 2 pt 7 title ", f);
        put_quoted(f, label);
        fputs(e + 1 < epsilon_count ? ", " : "\n", f);
    }
    fclose(f);
    if (status == 0)
        status = run_gnuplot(&s, script, part, png_path, err);
    scratch_remove(&s);
    return status;
}
