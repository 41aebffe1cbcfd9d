/* The dpkit program's top level: help, version, unknown commands and options. */
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(cli, help_lists_usage)
{
    char *out;
    cr_assert_eq(test_run_dpkit("--help", &out), 0);
    cr_assert(strstr(out, "usage: dpkit") != NULL, "%s", out);
    cr_assert(strstr(out, "commands:") != NULL);
    free(out);
}

Test(cli, version)
{
    char *out;
    cr_assert_eq(test_run_dpkit("--version", &out), 0);
    cr_assert(strncmp(out, "dpkit ", 6) == 0, "%s", out);
    free(out);
}

Test(cli, unknown_command_is_usage_error)
{
    char *out;
    cr_assert_eq(test_run_dpkit("frobnicate", &out), 2);
    cr_assert(strstr(out, "unknown command 'frobnicate'") != NULL, "%s", out);
    free(out);
}

Test(cli, unknown_global_option_is_usage_error)
{
    char *out;
    cr_assert_eq(test_run_dpkit("--frobnicate", &out), 2);
    cr_assert(strstr(out, "unknown option") != NULL, "%s", out);
    free(out);
}

Test(cli, no_command_is_usage_error)
{
    cr_assert_eq(test_run_dpkit("", NULL), 2);
}

Test(cli, help_of_unknown_command)
{
    cr_assert_eq(test_run_dpkit("help nothing", NULL), 2);
}

Test(cli, help_of_help_and_of_a_command)
{
    char *out;
    cr_assert_eq(test_run_dpkit("help help", &out), 0, "%s", out);
    cr_assert(strstr(out, "usage: dpkit help [<command>]") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("help", &out), 0, "%s", out);
    cr_assert(strstr(out, "commands:") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("help epsilon", &out), 0, "%s", out);
    cr_assert(strstr(out, "usage: dpkit epsilon") != NULL, "%s", out);
    free(out);
}

/* A misspelt command is answered with the nearest one; a word close to none gets no guess. */
Test(cli, unknown_command_suggests_the_nearest)
{
    const char *cases[][2] = {{"traim", "train"}, {"epsilom", "epsilon"}, {"audti", "audit"},
                              {"hepl", "help"}, {"help curv", "curve"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out, expected[128];
        cr_assert_eq(test_run_dpkit(cases[i][0], &out), 2, "%s", out);
        snprintf(expected, sizeof expected, "(did you mean '%s'?)", cases[i][1]);
        cr_assert(strstr(out, expected) != NULL, "%s: %s", cases[i][0], out);
        free(out);
    }
    char *out;
    cr_assert_eq(test_run_dpkit("frobnicate", &out), 2);
    cr_assert(strstr(out, "did you mean") == NULL, "%s", out);
    free(out);
}

/* A config error names where the value came from: the file and line, or the --set override
 * (not the file, when the override gave it); --print-config lists the ranges. */
Test(cli, config_errors_name_the_file_line_or_the_override)
{
    const char *dir = test_temp_dir();
    char path[1024], args[2048], expected[1200];
    const char *text = "data: {dataset: synthetic}\n"
                       "training:\n"
                       "  epochs: 0\n";
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    cr_assert_eq(test_write_file(path, text, strlen(text)), 0);
    char *out;
    snprintf(args, sizeof args, "train %s --output %s/run", path, dir);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    snprintf(expected, sizeof expected, "%s:3: training.epochs: 0, expected 1..100000", path);
    cr_assert(strstr(out, expected) != NULL, "%s", out);
    free(out);
    snprintf(args, sizeof args, "train %s --output %s/run --set training.epochs=2 "
                                "--set privacy.delta=1.5", path, dir);
    cr_assert_eq(test_run_dpkit(args, &out), 1, "%s", out);
    cr_assert(strstr(out, "error: --set privacy.delta=1.5: privacy.delta: 1.5, expected 0..1") !=
              NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkit("train --print-config", &out), 0, "%s", out);
    cr_assert(strstr(out, "features.scatter.J") && strstr(out, "int 1..8"), "%s", out);
    free(out);
}
