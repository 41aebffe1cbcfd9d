/* libFuzzer harness for the CIFAR-10 binary batch loader (datasets_load_cifar10_batches). The
 * input is one batch file (raw or gzip); it is also loaded twice as two batches. */
#include "datasets/datasets.h"
#include "tests/fuzz/fuzz_common.h"

static void check(const char *const *paths, size_t count)
{
    dataset_split split;
    dpkit_error err;
    if (datasets_load_cifar10_batches(paths, count, &split, &err) == 0) {
        if (split.count == 0 || split.channels != 3 || split.height != 32 || split.width != 32)
            abort();
        for (size_t i = 0; i < split.count; i++)
            if (split.labels[i] < 0 || split.labels[i] >= 10)
                abort();
        free(split.images);
        free(split.labels);
    } else if (split.images || split.labels || split.count) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_write("data_batch.bin", data, size, path);
    const char *paths[2] = {path, path};
    check(paths, 1);
    check(paths, 2);
    return 0;
}
