/* libFuzzer harness for the IDX loader (datasets_load_idx). Input: a 4-byte big-endian length n,
 * then n bytes of the image file, then the label file (each raw or gzip). */
#include "datasets/datasets.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t n = (size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3];
    data += 4;
    size -= 4;
    if (n > size)
        n = size;
    char images[4200], labels[4200];
    fuzz_write("images-idx3-ubyte", data, n, images);
    fuzz_write("labels-idx1-ubyte", data + n, size - n, labels);
    dataset_split split;
    dpkit_error err;
    if (datasets_load_idx(images, labels, 10, &split, &err) == 0) {
        if (split.count == 0 || split.channels != 1 || !split.images || !split.labels)
            abort();
        for (size_t i = 0; i < split.count; i++)
            if (split.labels[i] < 0 || split.labels[i] >= 10)
                abort();
        free(split.images);
        free(split.labels);
    } else if (split.images || split.labels || split.count) {
        abort(); /* a failed load leaves the split empty */
    }
    return 0;
}
