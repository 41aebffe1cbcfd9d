/* gnuplot plumbing behind common/plot.h: the script and data are collected in memory, written
 * beside the figure, and gnuplot draws the images under temporary names that are renamed once
 * they are checked. */
#include "common/plot.h"

#include "common/durable.h"
#include "common/log.h"
#include "common/textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;


struct plot {
    char dir[1024];  /* the figure's directory ("." when the name has none) */
    char base[512];  /* its name without .png */
    FILE *script;
    char *script_text;
    size_t script_size;
    char *data_text[PLOT_MAX_FILES];
    size_t data_size[PLOT_MAX_FILES];
    char data_name[PLOT_MAX_FILES][560];
    size_t data_count;
};

/* The formats drawn: the PNG is required, the others are drawn when gnuplot has a terminal. */
static const struct {
    const char *extension, *terminal, *settings;
} formats[] = {
    {"png", NULL, NULL},
    {"pdf", "pdfcairo", "size 6in,4.5in font 'sans,9'"},
    {"svg", "svg", "size 800,600 font 'sans,11' background rgb 'white'"},
};
#define FORMAT_COUNT (sizeof formats / sizeof formats[0])

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
                     "gnuplot-nox) to make figures");
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

/* Preamble: the output name is a variable so that dpkit can draw under temporary names while
 * `gnuplot NAME.gp` by hand writes NAME.png directly. */
static void put_preamble(FILE *f, const char *base, const char *title)
{
    fprintf(f, "# %s.gp, written by dpkit: run `gnuplot %s.gp` in this directory to draw %s.png,\n"
               "# %s.pdf and %s.svg again from the data files beside it.\n"
               "if (!exists('out')) out = ",
            base, base, base, base, base);
    plot_quoted(f, base);
    fputs("\nset encoding utf8\n"
          "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size 800,600 font 'sans,11'\n"
          "} else {\n"
          "  set terminal png size 800,600\n"
          "}\nset output out.'.png'\nset grid\nset key left top\n", f);
    if (title) {
        fputs("set title ", f);
        plot_quoted(f, title);
        fputc('\n', f);
    }
}

/* After the caller's plot command: the same figure again on each vector terminal there is. */
static void put_other_formats(FILE *f)
{
    fputs("set output\n", f);
    for (size_t i = 1; i < FORMAT_COUNT; i++)
        fprintf(f, "if (strstrt(GPVAL_TERMINALS, '%s') > 0) {\n"
                   "  set terminal %s %s\n  set output out.'.%s'\n  replot\n  set output\n"
                   "} else {\n  print 'no %s terminal: ', out, '.%s not drawn'\n}\n",
                formats[i].terminal, formats[i].terminal, formats[i].settings,
                formats[i].extension, formats[i].terminal, formats[i].extension);
}

int plot_begin(plot **out, const char *png_path, const char *title, dpkit_error *err)
{
    *out = NULL;
    if (!png_path || !*png_path)
        return error_set(err, "plot: no output file name");
    const char *slash = strrchr(png_path, '/');
    const char *name = slash ? slash + 1 : png_path;
    size_t name_length = strlen(name);
    if (name_length > 4 && strcmp(name + name_length - 4, ".png") == 0)
        name_length -= 4;
    if (name_length == 0)
        return error_set(err, "plot: %s: expected a file name such as roc.png", png_path);
    plot *p = calloc(1, sizeof *p);
    if (!p)
        return error_set(err, "plot: out of memory");
    size_t dir_length = slash ? (size_t)(slash - png_path) : 0;
    if (dir_length + 1 > sizeof p->dir || name_length + 1 > sizeof p->base - 40) {
        free(p);
        return error_set(err, "plot: output file name too long: %s", png_path);
    }
    if (!slash)
        snprintf(p->dir, sizeof p->dir, ".");
    else if (dir_length == 0)
        snprintf(p->dir, sizeof p->dir, "/");
    else
        snprintf(p->dir, sizeof p->dir, "%.*s", (int)dir_length, png_path);
    snprintf(p->base, sizeof p->base, "%.*s", (int)name_length, name);
    p->script = open_memstream(&p->script_text, &p->script_size);
    if (!p->script) {
        free(p);
        return error_set(err, "plot: out of memory");
    }
    put_preamble(p->script, p->base, title);
    *out = p;
    return 0;
}

FILE *plot_script(plot *p)
{
    return p->script;
}

FILE *plot_data(plot *p, const char **name)
{
    *name = NULL;
    if (p->data_count == PLOT_MAX_FILES)
        return NULL;
    size_t i = p->data_count;
    FILE *f = open_memstream(&p->data_text[i], &p->data_size[i]);
    if (!f)
        return NULL;
    p->data_count++;
    snprintf(p->data_name[i], sizeof p->data_name[i], "%s.data%zu.tsv", p->base, i);
    *name = p->data_name[i];
    return f;
}

void plot_abort(plot *p)
{
    if (!p)
        return;
    if (p->script)
        fclose(p->script);
    free(p->script_text);
    for (size_t i = 0; i < p->data_count; i++)
        free(p->data_text[i]);
    free(p);
}

/* dir/name, or an error naming it. */
static int path_of(const plot *p, const char *name, char *path, size_t size, dpkit_error *err)
{
    if (snprintf(path, size, "%s/%s", p->dir, name) >= (int)size)
        return error_set(err, "plot: path too long: %s/%s", p->dir, name);
    return 0;
}

/* The script and its data files, each written atomically. Data files of an earlier, larger
 * figure of the same name are removed so that the directory holds one consistent set. */
static int write_sources(plot *p, dpkit_error *err)
{
    char path[2048], name[600];
    for (size_t i = 0; i < p->data_count; i++)
        if (path_of(p, p->data_name[i], path, sizeof path, err) ||
            textfile_write_atomic(path, p->data_text[i] ? p->data_text[i] : "",
                                  p->data_size[i], err))
            return -1;
    for (size_t i = p->data_count; i < PLOT_MAX_FILES; i++) {
        snprintf(name, sizeof name, "%s.data%zu.tsv", p->base, i);
        if (path_of(p, name, path, sizeof path, err) == 0)
            unlink(path);
    }
    snprintf(name, sizeof name, "%s.gp", p->base);
    return path_of(p, name, path, sizeof path, err) ||
           textfile_write_atomic(path, p->script_text, p->script_size, err);
}

/* Reads up to size - 1 bytes of the file at fd from its start. */
static void read_log(int fd, char *text, size_t size)
{
    size_t used = 0;
    if (lseek(fd, 0, SEEK_SET) == 0)
        for (;;) {
            ssize_t n = read(fd, text + used, size - 1 - used);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            used += (size_t)n;
            if (used == size - 1)
                break;
        }
    text[used] = '\0';
}

/* Runs `gnuplot -e "cd DIR; out = TEMP; load NAME.gp"`; its output goes to a temporary log
 * that becomes the error message when it fails. */
static int run_gnuplot(const plot *p, const char *temp_base, dpkit_error *err)
{
    char gnuplot[1024];
    if (find_gnuplot(gnuplot, sizeof gnuplot, err))
        return -1;
    char *command = NULL, script[600];
    size_t command_size = 0;
    FILE *c = open_memstream(&command, &command_size);
    if (!c)
        return error_set(err, "plot: out of memory");
    snprintf(script, sizeof script, "%s.gp", p->base);
    fputs("cd ", c), plot_quoted(c, p->dir);
    fputs("; out = ", c), plot_quoted(c, temp_base);
    fputs("; load ", c), plot_quoted(c, script);
    if (fclose(c) != 0) {
        free(command);
        return error_set(err, "plot: out of memory");
    }
    const char *tmp = getenv("TMPDIR");
    char log_path[1024];
    snprintf(log_path, sizeof log_path, "%s/dpkit-gnuplot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int log_fd = mkstemp(log_path);
    if (log_fd < 0) {
        free(command);
        return error_set(err, "plot: cannot create a temporary file %s: %s", log_path,
                         strerror(errno));
    }
    unlink(log_path); /* the open descriptor is all that is needed */
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    char *argv[] = {gnuplot, (char *)"-e", command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, gnuplot, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    free(command);
    if (rc != 0) {
        close(log_fd);
        return error_set(err, "plot: cannot run %s: %s", gnuplot, strerror(rc));
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char message[400];
    read_log(log_fd, message, sizeof message);
    close(log_fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, "plot: gnuplot failed (status %d) on %s/%s.gp: %s", status, p->dir,
                         p->base, message);
    return 0;
}

/* 1 when the file starts with the format's signature (SVG: an XML document with an svg
 * element near its start). */
static int looks_like(const char *path, const char *extension)
{
    char head[512];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[got] = '\0';
    if (strcmp(extension, "png") == 0)
        return got >= 8 && memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(extension, "pdf") == 0)
        return got >= 5 && memcmp(head, "%PDF-", 5) == 0;
    return strstr(head, "<svg") != NULL;
}

/* Moves each drawn image into place; a vector format gnuplot could not draw is skipped with a
 * warning (and an older image of that name removed, so none is left out of date). */
static int install_images(const plot *p, const char *temp_base, dpkit_error *err)
{
    int status = 0;
    for (size_t i = 0; i < FORMAT_COUNT; i++) {
        char temp[2048], final[2048], name[700];
        snprintf(name, sizeof name, "%s.%s", temp_base, formats[i].extension);
        if (path_of(p, name, temp, sizeof temp, err))
            return -1;
        snprintf(name, sizeof name, "%s.%s", p->base, formats[i].extension);
        if (path_of(p, name, final, sizeof final, err))
            return -1;
        if (status) {
            unlink(temp);
            continue;
        }
        if (access(temp, F_OK) != 0 && formats[i].terminal) {
            log_warn("plot: this gnuplot has no %s terminal; %s skipped", formats[i].terminal,
                     final);
            unlink(final);
            continue;
        }
        if (!looks_like(temp, formats[i].extension)) {
            unlink(temp);
            status = error_set(err, "plot: gnuplot wrote no %s image for %s",
                               formats[i].extension, final);
            continue;
        }
        status = durable_replace(temp, final, err);
    }
    return status;
}

int plot_finish(plot *p, dpkit_error *err)
{
    put_other_formats(p->script);
    int closed = fclose(p->script);
    p->script = NULL;
    char temp_base[600];
    snprintf(temp_base, sizeof temp_base, "%s.part-%ld", p->base, (long)getpid());
    int status = closed != 0 ? error_set(err, "plot: out of memory writing the gnuplot script")
                             : write_sources(p, err);
    if (status == 0) {
        status = run_gnuplot(p, temp_base, err);
        dpkit_error later;
        /* also after a failure: the temporary images are removed either way */
        int installed = install_images(p, temp_base, status ? &later : err);
        if (status == 0)
            status = installed;
    }
    plot_abort(p);
    return status;
}
