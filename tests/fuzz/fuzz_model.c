/* libFuzzer harness for the model.h5 loader (dp_model_load_h5 on /model, as `dpkit eval`
 * reads it). */
#include "dp/dp.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_write("model.h5", data, size, path);
    h5io_file *f;
    dpkit_error err;
    if (h5io_open_read(path, &f, &err) == 0) {
        dp_model model;
        if (dp_model_load_h5(&model, f, "/model", &err) == 0) {
            if (model.layer_count < 1 || model.class_count < 2 || !model.params)
                abort();
            dp_model_free(&model);
        }
        h5io_close(f);
    }
    fuzz_check_hdf5_closed("dp_model_load_h5");
    return 0;
}
