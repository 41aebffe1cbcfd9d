/* dataset_load: picks the loader for a dataset name; dataset_free; the data directory. */
#include "datasets/datasets_internal.h"
#include "common/memory.h"
#include "common/paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *datasets_data_dir(void)
{
    return paths_data_dir();
}

/* The small fixed synthetic set that the name "synthetic" stands for. */
#define SYNTHETIC_TRAIN 1000
#define SYNTHETIC_TEST 200
#define SYNTHETIC_SIDE 28

static int require_fetched(const char *name, const char *directory, const char *probe,
                           dpkit_error *err)
{
    char path[4200];
    struct stat st;
    if (datasets_path(path, sizeof path, err, "%s/%s", directory, probe) != 0)
        return -1;
    if (stat(path, &st) != 0)
        return error_set(err,
                         "%s is not in %s (missing %s): run 'dpkit data fetch %s' (or set "
                         "DPKIT_DATA to the directory that holds it)",
                         name, directory, probe, name);
    return 0;
}

int dataset_load(const char *name, dataset *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name || !*name)
        return error_set(err, "empty dataset name: expected mnist, fashion-mnist, cifar10, "
                              "hdf5:PATH or synthetic");
    snprintf(out->name, sizeof out->name, "%s", name);
    char directory[4200];
    int status;
    if (strcmp(name, "mnist") == 0 || strcmp(name, "fashion-mnist") == 0) {
        status = datasets_path(directory, sizeof directory, err, "%s/%s", datasets_data_dir(),
                               name);
        if (status == 0)
            status = require_fetched(name, directory, "train-images-idx3-ubyte", err);
        if (status == 0)
            status = datasets_load_mnist_like(name, directory, out, err);
    } else if (strcmp(name, "cifar10") == 0) {
        status = datasets_path(directory, sizeof directory, err, "%s/cifar10",
                               datasets_data_dir());
        if (status == 0)
            status = require_fetched(name, directory, "data_batch_1.bin", err);
        if (status == 0)
            status = datasets_load_cifar10_directory(directory, out, err);
    } else if (strncmp(name, "hdf5:", 5) == 0) {
        status = datasets_load_hdf5(name + 5, out, err);
        snprintf(out->name, sizeof out->name, "%s", name);
    } else if (strcmp(name, "synthetic") == 0) {
        status = datasets_make_synthetic(SYNTHETIC_TRAIN, SYNTHETIC_TEST, 10, 1, SYNTHETIC_SIDE,
                                         SYNTHETIC_SIDE, 0, out, err);
    } else {
        return error_set(err, "unknown dataset '%s': expected mnist, fashion-mnist, cifar10, "
                              "hdf5:PATH or synthetic", name);
    }
    if (status != 0)
        dataset_free(out);
    return status;
}

void dataset_free(dataset *d)
{
    if (!d)
        return;
    memory_free_strings(d->class_names, d->class_count > 0 ? (size_t)d->class_count : 0);
    datasets_split_free(&d->train);
    datasets_split_free(&d->test);
    memset(d, 0, sizeof *d);
}

void datasets_split_set_uint8(dataset_split *split, size_t count, size_t channels, size_t height,
                              size_t width)
{
    split->count = count;
    split->channels = channels;
    split->height = height;
    split->width = width;
    split->dtype = DATASET_UINT8;
}

void datasets_split_free(dataset_split *split)
{
    free(split->images);
    free(split->labels);
    memset(split, 0, sizeof *split);
}

void datasets_class_histogram(const dataset_split *split, int class_count, size_t *counts)
{
    memset(counts, 0, (size_t)class_count * sizeof *counts);
    for (size_t i = 0; i < split->count; i++)
        if (split->labels[i] >= 0 && split->labels[i] < class_count)
            counts[split->labels[i]]++;
}
