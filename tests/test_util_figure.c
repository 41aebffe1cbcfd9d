/* Figure checks for the tests (tests/test_util_figure.h). */
#include "tests/test_util_figure.h"

#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when `gnuplot` lists the terminal (GPVAL_TERMINALS). */
static int has_terminal(const char *terminal)
{
    FILE *f = popen("gnuplot -e 'print GPVAL_TERMINALS' 2>&1", "r");
    if (!f)
        return 0;
    char list[4096];
    size_t got = fread(list, 1, sizeof list - 1, f);
    list[got] = '\0';
    pclose(f);
    char padded[64];
    snprintf(padded, sizeof padded, " %s ", terminal);
    char spaced[4100];
    snprintf(spaced, sizeof spaced, " %s ", list);
    for (char *c = spaced; *c; c++)
        if (*c == '\n')
            *c = ' ';
    return strstr(spaced, padded) != NULL;
}

static void assert_starts_with(const char *path, const char *head, size_t length)
{
    size_t size;
    char *data = test_read_file(path, &size);
    cr_assert_not_null(data, "%s missing", path);
    cr_assert(size > 500 && memcmp(data, head, length) == 0, "%s: not the expected format", path);
    free(data);
}

void test_check_figure(const char *png_path)
{
    size_t length = strlen(png_path);
    cr_assert(length > 4 && strcmp(png_path + length - 4, ".png") == 0, "%s", png_path);
    char base[2048], path[2100], command[4400];
    snprintf(base, sizeof base, "%.*s", (int)(length - 4), png_path);
    assert_starts_with(png_path, "\x89PNG\r\n\x1a\n", 8);
    snprintf(path, sizeof path, "%s.gp", base);
    cr_assert_eq(access(path, R_OK), 0, "%s missing", path);
    snprintf(path, sizeof path, "%s.data0.tsv", base);
    cr_assert_eq(access(path, R_OK), 0, "%s missing", path);
    if (has_terminal("pdfcairo")) {
        snprintf(path, sizeof path, "%s.pdf", base);
        assert_starts_with(path, "%PDF-", 5);
    }
    if (has_terminal("svg")) {
        snprintf(path, sizeof path, "%s.svg", base);
        char *svg = test_read_file(path, NULL);
        cr_assert(svg && strstr(svg, "<svg"), "%s: not an SVG image", path);
        free(svg);
    }
    /* the script alone, from its directory, draws the PNG again */
    const char *slash = strrchr(base, '/');
    cr_assert_eq(remove(png_path), 0);
    snprintf(command, sizeof command, "cd '%.*s' && gnuplot '%s.gp' >/dev/null 2>&1",
             slash ? (int)(slash - base) : 1, slash ? base : ".", slash ? slash + 1 : base);
    cr_assert_eq(system(command), 0, "%s failed", command);
    assert_starts_with(png_path, "\x89PNG\r\n\x1a\n", 8);
}
