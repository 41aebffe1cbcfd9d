/* dpkit data: list, inspect and fetch the datasets (MNIST, Fashion-MNIST, CIFAR-10, the State
 * of the Union text corpus) under the data directory. */
#include "cli/cli.h"

#include "common/log.h"
#include "common/progress.h"
#include "datasets/datasets.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_help(void)
{
    printf("usage: dpkit data list\n"
           "       dpkit data info NAME\n"
           "       dpkit data fetch NAME|all\n"
           "\n"
           "Lists, inspects and fetches the datasets under the data directory ($DPKIT_DATA, or\n"
           "data/ when unset).\n"
           "\n"
           "  list         every known source: present / verified against the project's sha256\n"
           "               list, files present, directory\n"
           "  info NAME    counts, image shape, per-class histogram (or, for the text corpus,\n"
           "               documents, bytes, characters and vocabulary sizes) and checksum status\n"
           "  fetch NAME   get a source and verify every file; nothing to do when it is already\n"
           "               present and verified; 'all' fetches every source\n"
           "\n"
           "names: mnist, fashion-mnist, cifar10, sotu (fetchable); info also takes hdf5:PATH and\n"
           "synthetic.\n"
           "\n"
           "options:\n"
           "  -h, --help     show this help\n"
           "  -q, --quiet    only errors\n"
           "  -v, --verbose  more detail\n"
           "\n"
           "example:\n"
           "  dpkit data fetch mnist && dpkit data info mnist\n");
}

static int is_source(const char *name)
{
    for (const char *const *s = datasets_source_names; *s; s++)
        if (strcmp(*s, name) == 0)
            return 1;
    return 0;
}

static int run_list(void)
{
    dpkit_error err;
    printf("data directory: %s\n", datasets_data_dir());
    printf("%-14s %-9s %-7s %s\n", "name", "status", "files", "directory");
    for (const char *const *s = datasets_source_names; *s; s++) {
        datasets_status status;
        size_t present, expected;
        if (datasets_verify(*s, &status, &present, &expected, &err) != 0)
            return cli_fail("data", &err);
        char files[32];
        snprintf(files, sizeof files, "%zu/%zu", present, expected);
        printf("%-14s %-9s %-7s %s/%s\n", *s, datasets_status_name(status), files,
               datasets_data_dir(), *s);
    }
    return 0;
}

static void print_checksum_status(const char *name)
{
    if (!is_source(name)) {
        printf("checksums:   not applicable (not a fetched source)\n");
        return;
    }
    dpkit_error err;
    datasets_status status;
    size_t present, expected;
    if (datasets_verify(name, &status, &present, &expected, &err) != 0)
        printf("checksums:   cannot verify: %s\n", err.message);
    else
        printf("checksums:   %s (%zu/%zu files match the sha256 list)\n",
               datasets_status_name(status), present, expected);
}

static int info_text(const char *name)
{
    dpkit_error err;
    dataset_text text;
    dataset_tokens bytes = {0}, characters = {0};
    double start = progress_now();
    if (datasets_text_load(name, &text, &err) != 0)
        return cli_fail("data", &err);
    double seconds = progress_now() - start;
    int status = datasets_text_tokenize(&text, DATASET_TEXT_BYTES, &bytes, &err) ||
                 datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &characters, &err);
    if (!status) {
        printf("dataset:     %s (text corpus, loaded in %.3f s)\n", name, seconds);
        printf("documents:   %zu (first %s, last %s)\n", text.document_count,
               text.document_names[0], text.document_names[text.document_count - 1]);
        printf("bytes:       %zu (vocabulary of %zu byte values)\n", text.byte_count,
               bytes.vocabulary.size);
        printf("characters:  %zu UTF-8 characters (vocabulary of %zu characters)\n",
               characters.count, characters.vocabulary.size);
        print_checksum_status(name);
    }
    datasets_tokens_free(&bytes);
    datasets_tokens_free(&characters);
    datasets_text_free(&text);
    return status ? cli_fail("data", &err) : 0;
}

static void print_split(const char *label, const dataset_split *s)
{
    printf("%-12s %zu examples of %zu x %zu x %zu (channels x height x width), %s\n", label,
           s->count, s->channels, s->height, s->width,
           s->dtype == DATASET_UINT8 ? "uint8" : "float32");
}

static int info_images(const char *name)
{
    dpkit_error err;
    dataset d;
    double start = progress_now();
    if (dataset_load(name, &d, &err) != 0)
        return cli_fail("data", &err);
    double seconds = progress_now() - start;
    printf("dataset:     %s (%d classes, loaded in %.3f s)\n", name, d.class_count, seconds);
    print_split("train:", &d.train);
    print_split("test:", &d.test);
    print_checksum_status(name);
    size_t *train = calloc((size_t)d.class_count, sizeof *train);
    size_t *test = calloc((size_t)d.class_count, sizeof *test);
    if (!train || !test) {
        free(train);
        free(test);
        dataset_free(&d);
        fprintf(stderr, "dpkit data: error: out of memory\n");
        return 1;
    }
    datasets_class_histogram(&d.train, d.class_count, train);
    datasets_class_histogram(&d.test, d.class_count, test);
    printf("\n%-6s %-16s %8s %8s\n", "class", "name", "train", "test");
    for (int k = 0; k < d.class_count; k++)
        printf("%-6d %-16s %8zu %8zu\n", k, d.class_names[k], train[k], test[k]);
    free(train);
    free(test);
    dataset_free(&d);
    return 0;
}

static int run_fetch(const char *name)
{
    dpkit_error err;
    if (strcmp(name, "all") == 0) {
        for (const char *const *s = datasets_source_names; *s; s++)
            if (datasets_fetch(*s, &err) != 0)
                return cli_fail("data", &err);
        return 0;
    }
    if (!is_source(name))
        return cli_usage_error("data", "fetch: unknown dataset '%s': expected mnist, "
                                       "fashion-mnist, cifar10, sotu or all",
                               name);
    if (datasets_fetch(name, &err) != 0)
        return cli_fail("data", &err);
    return 0;
}

int cli_data(int argc, char **argv)
{
    static const struct option options[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (option == 'h') {
            print_help();
            return 0;
        }
        if (cli_common_option(option))
            continue;
        return cli_usage_error("data", "unknown option '%s'", argv[optind - 1]);
    }
    int rest = argc - optind;
    char **args = argv + optind;
    if (rest < 1)
        return cli_usage_error("data", "missing action: expected list, info NAME or fetch NAME");
    const char *action = args[0];
    if (strcmp(action, "list") == 0) {
        if (rest != 1)
            return cli_usage_error("data", "list takes no arguments");
        return run_list();
    }
    if (strcmp(action, "info") == 0 || strcmp(action, "fetch") == 0) {
        if (rest != 2)
            return cli_usage_error("data", "%s expects one dataset name", action);
        if (strcmp(action, "fetch") == 0)
            return run_fetch(args[1]);
        if (strcmp(args[1], "sotu") == 0 || strncmp(args[1], "text:", 5) == 0)
            return info_text(strcmp(args[1], "sotu") == 0 ? "sotu" : args[1] + 5);
        return info_images(args[1]);
    }
    return cli_usage_error("data", "unknown action '%s': expected list, info or fetch", action);
}
