/* Datasets: one in-memory type for image classification data (MNIST, Fashion-MNIST, CIFAR-10,
 * user HDF5 files, synthetic data), a text corpus type, and fetching/verification of the real
 * sources under the data directory ($DPKIT_DATA or data/). */
#ifndef DPKIT_DATASETS_DATASETS_H
#define DPKIT_DATASETS_DATASETS_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { DATASET_UINT8, DATASET_FLOAT32 } dataset_dtype;

/* One split: images (count, channels, height, width) row-major, uint8 (0..255) or float32.
 * Pre-computed embeddings are (count, D, 1, 1). */
typedef struct dataset_split {
    size_t count;
    size_t channels, height, width;
    dataset_dtype dtype;
    void *images;
    int32_t *labels; /* in 0..class_count-1 */
} dataset_split;

typedef struct dataset {
    char name[64];
    int class_count;
    char **class_names; /* class_count strings */
    dataset_split train, test;
} dataset;

/* The data directory: $DPKIT_DATA if set, else "data". */
const char *datasets_data_dir(void);

/* name: "mnist", "fashion-mnist", "cifar10", "hdf5:PATH", or "synthetic" (a small
 * class-conditional image set for tests, see datasets_make_synthetic). Real sets must have been
 * fetched (the error says how). */
int dataset_load(const char *name, dataset *out, dpkit_error *err);
void dataset_free(dataset *d);

/* Synthetic class-conditional images: each class has a random mean pattern, examples are that
 * pattern plus noise, so a classifier can learn them. Deterministic in seed. */
int datasets_make_synthetic(size_t train_count, size_t test_count, int class_count,
                            size_t channels, size_t height, size_t width, uint64_t seed,
                            dataset *out, dpkit_error *err);

#endif
