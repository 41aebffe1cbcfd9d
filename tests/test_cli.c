/* The dpkit program's top level: help, version, unknown commands and options. */
#include "tests/test_util.h"

#include <criterion/criterion.h>
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
