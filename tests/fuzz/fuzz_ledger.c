/* libFuzzer harness for the privacy-ledger loaders (accountant/ledger*.c): an input starting with
 * the HDF5 signature goes to accountant_ledger_load_h5 (group /ledger, as in checkpoint.h5),
 * anything else to accountant_ledger_load_json. A loaded ledger holds only valid events. */
#include "accountant/accountant.h"
#include "tests/fuzz/fuzz_common.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    int is_hdf5 = size >= 8 && memcmp(data, hdf5_signature, 8) == 0;
    char path[4200];
    fuzz_write(is_hdf5 ? "ledger.h5" : "ledger.json", data, size, path);
    accountant_ledger ledger;
    accountant_ledger_init(&ledger);
    dpkit_error err;
    int status = -1;
    if (is_hdf5) {
        h5io_file *f;
        if (h5io_open_read(path, &f, &err) == 0) {
            status = accountant_ledger_load_h5(&ledger, f, "/ledger", &err);
            h5io_close(f);
        }
        fuzz_check_hdf5_closed("accountant_ledger_load_h5");
    } else {
        status = accountant_ledger_load_json(&ledger, path, &err);
    }
    if (status == 0) {
        for (size_t i = 0; i < ledger.count; i++) {
            const accountant_event *e = &ledger.events[i];
            if (!(e->sampling_rate >= 0 && e->sampling_rate <= 1) ||
                !isfinite(e->noise_multiplier) || e->noise_multiplier < 0 || e->count < 1)
                abort();
        }
    } else if (ledger.count != 0) {
        abort(); /* on failure the ledger is left empty */
    }
    accountant_ledger_free(&ledger);
    return 0;
}
