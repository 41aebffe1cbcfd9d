/* libFuzzer harness for the YAML config loader (common/config*.c) with the training schema of
 * the CLI (cli/run_config.c). A config that loads must write back as YAML that loads again to
 * the same text (config.h: "Reading it back gives the same config"). */
#include "dp/run_config.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_write("config.yaml", data, size, path);
    run_config rc, again;
    dpkit_error err;
    if (run_config_load(path, NULL, 0, &rc, &err) != 0)
        return 0;
    char *text = NULL, *text_again = NULL;
    if (config_write_string(rc.cfg, &text, &err) != 0) {
        fprintf(stderr, "fuzz: config_write_string failed: %s\n", err.message);
        abort();
    }
    fuzz_write("written.yaml", (const uint8_t *)text, strlen(text), path);
    if (run_config_load(path, NULL, 0, &again, &err) != 0) {
        fprintf(stderr, "fuzz: the written config does not load: %s\n%s\n", err.message, text);
        abort();
    }
    if (config_write_string(again.cfg, &text_again, &err) != 0 || strcmp(text, text_again) != 0) {
        fprintf(stderr, "fuzz: the config changed when read back:\n%s\n---\n%s\n", text,
                text_again ? text_again : "(not written)");
        abort();
    }
    free(text);
    free(text_again);
    run_config_free(&again);
    run_config_free(&rc);
    return 0;
}
