/* libFuzzer harness for the user HDF5 dataset loader (datasets_load_hdf5): /train/x, /train/y,
 * /test/x, /test/y and the class attributes (docs/datasets.md). */
#include "datasets/datasets.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_write("images.h5", data, size, path);
    dataset d;
    dpkit_error err;
    if (datasets_load_hdf5(path, &d, &err) == 0) {
        if (d.class_count < 1 || !d.class_names)
            abort();
        const dataset_split *splits[2] = {&d.train, &d.test};
        for (int s = 0; s < 2; s++)
            for (size_t i = 0; i < splits[s]->count; i++)
                if (splits[s]->labels[i] < 0 || splits[s]->labels[i] >= d.class_count)
                    abort();
        dataset_free(&d);
    }
    fuzz_check_hdf5_closed("datasets_load_hdf5");
    return 0;
}
