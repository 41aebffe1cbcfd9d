/* gnuplot plumbing behind common/plot.h. */
#include "common/plot.h"

#include "common/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
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
void plot_quoted(FILE *f, const char *text)
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
    plot_quoted(f, png);
    fputs("\nset grid\nset key left top\n", f);
    if (title) {
        fputs("set title ", f);
        plot_quoted(f, title);
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
    return durable_replace(part, png_path, err);
}

struct plot {
    plot_scratch scratch;
    char png[1024];
    char part[1100];
    const char *script_path;
    FILE *script;
    size_t data_count;
};

int plot_begin(plot **out, const char *png_path, const char *title, dpkit_error *err)
{
    *out = NULL;
    if (!png_path || !*png_path)
        return error_set(err, "plot: no output file name");
    if (strlen(png_path) >= sizeof((plot *)0)->png)
        return error_set(err, "plot: output file name too long: %s", png_path);
    plot *p = calloc(1, sizeof *p);
    if (!p)
        return error_set(err, "plot: out of memory");
    if (scratch_create(&p->scratch, err)) {
        free(p);
        return -1;
    }
    snprintf(p->png, sizeof p->png, "%s", png_path);
    snprintf(p->part, sizeof p->part, "%s.part-%ld", png_path, (long)getpid());
    p->script_path = scratch_file(&p->scratch, "plot.gp");
    p->script = p->script_path ? fopen(p->script_path, "w") : NULL;
    if (!p->script) {
        scratch_remove(&p->scratch);
        free(p);
        return error_set(err, "plot: cannot write a gnuplot script in a temporary directory");
    }
    put_terminal(p->script, p->part, title);
    *out = p;
    return 0;
}

FILE *plot_script(plot *p)
{
    return p->script;
}

FILE *plot_data(plot *p, const char **path)
{
    char name[32];
    snprintf(name, sizeof name, "data%zu.dat", p->data_count++);
    *path = scratch_file(&p->scratch, name);
    return *path ? fopen(*path, "w") : NULL;
}

void plot_abort(plot *p)
{
    if (!p)
        return;
    if (p->script)
        fclose(p->script);
    scratch_remove(&p->scratch);
    free(p);
}

int plot_finish(plot *p, dpkit_error *err)
{
    int closed = fclose(p->script);
    p->script = NULL;
    int status = closed == 0 ? run_gnuplot(&p->scratch, p->script_path, p->part, p->png, err)
                             : error_set(err, "plot: cannot write the gnuplot script");
    plot_abort(p);
    return status;
}
