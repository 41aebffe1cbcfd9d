/* JSON writer: structure and commas, escaping, round-trip doubles, indentation, misuse, and
 * output read back through the config parser. */
#include "common/config.h"
#include "common/json.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(json, structure_and_commas)
{
    json_writer w;
    dpkit_error err;
    cr_assert_eq(json_writer_init_string(&w, 0), 0);
    json_begin_object(&w);
    json_field_int(&w, "epoch", 3);
    json_field_double(&w, "loss", 0.25);
    json_key(&w, "list");
    json_begin_array(&w);
    json_int(&w, -1);
    json_begin_object(&w);
    json_end_object(&w);
    json_begin_array(&w);
    json_end_array(&w);
    json_null(&w);
    json_bool(&w, 0);
    json_string(&w, NULL);
    json_end_array(&w);
    json_field_bool(&w, "ok", 1);
    json_field_string(&w, "name", "x");
    json_end_object(&w);
    cr_assert_eq(json_writer_finish(&w, &err), 0, "%s", err.message);
    cr_assert_str_eq(json_writer_string(&w),
                     "{\"epoch\":3,\"loss\":0.25,\"list\":[-1,{},[],null,false,null],\"ok\":true,"
                     "\"name\":\"x\"}\n");
    json_writer_free(&w);
}

Test(json, string_escaping)
{
    json_writer w;
    dpkit_error err;
    cr_assert_eq(json_writer_init_string(&w, 0), 0);
    json_begin_array(&w);
    json_string(&w, "quote\" backslash\\ slash/ nl\n cr\r tab\t bs\b ff\f");
    json_string(&w, "\x01\x1f\x7f");
    json_string(&w, "c1 \xc2\x85 nbsp \xc2\xa0");
    json_string(&w, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    json_string(&w, "");
    json_end_array(&w);
    cr_assert_eq(json_writer_finish(&w, &err), 0, "%s", err.message);
    cr_assert_str_eq(json_writer_string(&w),
                     "[\"quote\\\" backslash\\\\ slash/ nl\\n cr\\r tab\\t bs\\b ff\\f\","
                     "\"\\u0001\\u001f\\u007f\",\"c1 \\u0085 nbsp \xc2\xa0\",\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"\"]\n");
    json_writer_free(&w);
}

Test(json, doubles_are_shortest_round_trip)
{
    char text[32];
    struct {
        double value;
        const char *expected;
    } cases[] = {{0.1, "0.1"},       {1.0, "1.0"},        {-0.0, "-0.0"},  {4096, "4096.0"},
                 {1e-5, "1e-05"},    {1e20, "1e+20"},     {1.5e300, "1.5e+300"},
                 {0.30000000000000004, "0.30000000000000004"}, {1.0 / 3, "0.3333333333333333"},
                 {NAN, "null"},      {INFINITY, "null"},  {-INFINITY, "null"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_format_double(cases[i].value, text, sizeof text);
        cr_assert_str_eq(text, cases[i].expected);
    }
    /* property: every text reads back to the same double, over many magnitudes */
    double values[] = {DBL_MIN, DBL_MAX, 5e-324, M_PI, -M_E, 123456789.123456789, 2.0 / 3e-7};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        for (int k = 0; k < 50; k++) {
            double v = values[i] * (1 + k * 1e-3);
            if (!isfinite(v))
                continue;
            json_format_double(v, text, sizeof text);
            cr_assert_eq(strtod(text, NULL), v, "%s", text);
            cr_assert(strpbrk(text, ".e"), "%s looks like an integer", text);
        }
    }
}

Test(json, indentation)
{
    json_writer w;
    dpkit_error err;
    cr_assert_eq(json_writer_init_string(&w, 2), 0);
    json_begin_object(&w);
    json_field_string(&w, "a", "b");
    json_key(&w, "c");
    json_begin_array(&w);
    json_int(&w, 1);
    json_double(&w, 2.5);
    json_end_array(&w);
    json_key(&w, "empty");
    json_begin_object(&w);
    json_end_object(&w);
    json_end_object(&w);
    cr_assert_eq(json_writer_finish(&w, &err), 0, "%s", err.message);
    cr_assert_str_eq(json_writer_string(&w), "{\n"
                                             "  \"a\": \"b\",\n"
                                             "  \"c\": [\n"
                                             "    1,\n"
                                             "    2.5\n"
                                             "  ],\n"
                                             "  \"empty\": {}\n"
                                             "}\n");
    json_writer_free(&w);
}

Test(json, lines_to_a_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", test_temp_dir());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    json_writer w;
    dpkit_error err;
    json_writer_init_file(&w, f, 0);
    for (int epoch = 1; epoch <= 2; epoch++) {
        json_begin_object(&w);
        json_field_int(&w, "epoch", epoch);
        json_field_double(&w, "epsilon", epoch * 0.5);
        json_end_object(&w);
        cr_assert_eq(json_writer_finish(&w, &err), 0, "%s", err.message);
    }
    json_writer_free(&w); /* does not close a caller's file */
    fclose(f);
    char *text = test_read_file(path, NULL);
    cr_assert_str_eq(text, "{\"epoch\":1,\"epsilon\":0.5}\n{\"epoch\":2,\"epsilon\":1.0}\n");
    free(text);
}

static void expect_misuse(void (*write)(json_writer *), const char *what)
{
    json_writer w;
    dpkit_error err;
    cr_assert_eq(json_writer_init_string(&w, 0), 0);
    write(&w);
    cr_assert_neq(json_writer_finish(&w, &err), 0);
    cr_assert(strstr(err.message, what), "'%s' lacks '%s'", err.message, what);
    json_writer_free(&w);
}

static void value_without_key(json_writer *w)
{
    json_begin_object(w);
    json_int(w, 1);
    json_end_object(w);
}

static void key_in_array(json_writer *w)
{
    json_begin_array(w);
    json_key(w, "a");
    json_end_array(w);
}

static void unbalanced(json_writer *w)
{
    json_begin_array(w);
    json_end_object(w);
}

static void unfinished(json_writer *w)
{
    json_begin_object(w);
    json_key(w, "a");
}

static void too_deep(json_writer *w)
{
    for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
        json_begin_array(w);
}

static void two_values(json_writer *w)
{
    json_int(w, 1);
    json_int(w, 2);
}

static void nothing(json_writer *w)
{
    (void)w;
}

Test(json, misuse_is_reported)
{
    expect_misuse(value_without_key, "value in an object without a key");
    expect_misuse(key_in_array, "key outside an object");
    expect_misuse(unbalanced, "unbalanced end of object");
    expect_misuse(unfinished, "unfinished");
    expect_misuse(too_deep, "nested deeper");
    expect_misuse(two_values, "second top-level value");
    expect_misuse(nothing, "nothing written");
}

Test(json, read_back_by_the_config_parser)
{
    json_writer w;
    dpkit_error err;
    const char *tricky = "a\"b\\c\n\t\x01\x7f\xc2\x85 caf\xc3\xa9";
    cr_assert_eq(json_writer_init_string(&w, 0), 0);
    json_begin_object(&w);
    json_field_string(&w, "text", tricky);
    json_field_double(&w, "third", 1.0 / 3);
    json_field_double(&w, "tiny", 5e-324);
    json_field_double(&w, "nan", NAN);
    json_field_int(&w, "big", 9007199254740993LL);
    json_field_bool(&w, "flag", 1);
    json_end_object(&w);
    cr_assert_eq(json_writer_finish(&w, &err), 0, "%s", err.message);

    config_node *root;
    cr_assert_eq(config_parse_string(json_writer_string(&w), "written.json", &root, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(config_node_find(root, "text")->value, tricky);
    double third, tiny;
    long big;
    int flag;
    cr_assert_eq(config_node_double(config_node_find(root, "third"), &third, &err), 0);
    cr_assert_eq(third, 1.0 / 3);
    cr_assert_eq(config_node_double(config_node_find(root, "tiny"), &tiny, &err), 0);
    cr_assert_eq(tiny, 5e-324);
    cr_assert(config_node_is_null(config_node_find(root, "nan")));
    cr_assert_eq(config_node_int(config_node_find(root, "big"), &big, &err), 0);
    cr_assert_eq(big, 9007199254740993L);
    cr_assert_eq(config_node_bool(config_node_find(root, "flag"), &flag, &err), 0);
    cr_assert_eq(flag, 1);
    config_node_free(root);
    json_writer_free(&w);
}

/* A document: the top object opened and closed for the caller, the file written whole. */
Test(json, document_written_to_a_file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/report.json", test_temp_dir());
    json_writer w;
    dpkit_error err;
    cr_assert_eq(json_document_begin(&w, "report", &err), 0, "%s", err.message);
    json_field_int(&w, "steps", 3);
    cr_assert_eq(json_document_write(&w, path, &err), 0, "%s", err.message);
    char *text = test_read_file(path, NULL);
    cr_assert_str_eq(text, "{\n  \"steps\": 3\n}\n");
    free(text);

    /* an unfinished document (an array left open) is refused and nothing is written */
    snprintf(path, sizeof path, "%s/broken.json", test_temp_dir());
    cr_assert_eq(json_document_begin(&w, "report", &err), 0, "%s", err.message);
    json_key(&w, "list");
    json_begin_array(&w);
    cr_assert_eq(json_document_write(&w, path, &err), -1);
    FILE *f = fopen(path, "r");
    cr_assert_null(f, "a broken document was written");
}
