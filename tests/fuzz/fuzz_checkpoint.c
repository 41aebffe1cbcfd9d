/* libFuzzer harness for the checkpoint loader (dp_train_state_load on /state, as
 * `dpkit train --resume` reads it) against the model of the seed corpus: 1x28x28 input,
 * conv2d 2x3x3 stride 2 padding 1, group-norm, relu, avgpool 2, flatten, linear 10; Adam. */
#include "dp/dp.h"
#include "tests/fuzz/fuzz_common.h"

static dp_model model;
static dp_train_state state;

static void setup_model(void)
{
    static int done = 0;
    if (done)
        return;
    done = 1;
    const dp_layer_spec specs[] = {{DP_LAYER_CONV2D, 2, 3, 2, 1, 0, 0},
                                   {DP_LAYER_GROUP_NORM, 0, 0, 0, 0, 1, 0},
                                   {DP_LAYER_RELU, 0, 0, 0, 0, 0, 0},
                                   {DP_LAYER_AVGPOOL, 0, 2, 2, 0, 0, 0},
                                   {DP_LAYER_FLATTEN, 0, 0, 0, 0, 0, 0},
                                   {DP_LAYER_LINEAR, 10, 0, 0, 0, 0, 0}};
    dp_optimizer_config optimizer = {.kind = DP_OPTIMIZER_ADAM, .lr = 0.01};
    dpkit_error err;
    if (dp_model_create((dp_shape){1, 28, 28}, 10, specs, sizeof specs / sizeof *specs, &model,
                        &err) != 0 ||
        dp_optimizer_create(&optimizer, model.param_count, &state.optimizer, &err) != 0) {
        fprintf(stderr, "fuzz: %s\n", err.message);
        abort();
    }
    rng_init_seed(&state.sampler, 1, RNG_STREAM_SAMPLING);
    rng_init_seed(&state.noise, 1, RNG_STREAM_NOISE);
    accountant_ledger_init(&state.ledger);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_model();
    char path[4200];
    fuzz_write("checkpoint.h5", data, size, path);
    h5io_file *f;
    dpkit_error err;
    if (h5io_open_read(path, &f, &err) == 0) {
        if (dp_train_state_load(&model, &state, f, "/state", &err) == 0 &&
            (state.epoch < 0 || state.step < 0))
            abort();
        h5io_close(f);
    }
    accountant_ledger_free(&state.ledger);
    fuzz_check_hdf5_closed("dp_train_state_load");
    return 0;
}
