/* dpkit features: computes (or finds in the cache) the train and test features of a training
 * config and prints their shape, size on disk and time. */
#include "cli/cli.h"
#include "dp/run_config.h"

#include "common/log.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define COMMAND "features"

static void print_help(void)
{
    printf("usage: dpkit features CONFIG.yaml [--set key=value]... [--force]\n"
           "\n"
           "Computes the features a training config asks for (features.extractor: raw, scatter or\n"
           "hog) for the train and test splits of data.dataset and stores them in the feature\n"
           "cache ($DPKIT_CACHE, default cache/), one HDF5 file per split and parameter set. A file\n"
           "already there is reused when its parameters, the dataset checksum, the dpkit version\n"
           "and its content checksum all match; otherwise it is rebuilt. Normalisation is not\n"
           "cached: private statistics are released by each training run.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable)\n"
           "  --force           recompute even when the cache is valid\n"
           CLI_CONFIG_OPTIONS_HELP
           "\n"
           "example:\n"
           "  dpkit features configs/cifar10-scatter-linear.yaml\n");
}

static void print_split(const char *name, const features_set *set, const features_cache_info *info)
{
    printf("%-5s %6zu x %zux%zux%zu float32 (%.1f MB in memory), %s: %s, %.1f MB on disk, "
           "%.2f s\n",
           name, set->count, set->channels, set->height, set->width,
           (double)set->count * (double)features_set_dimension(set) * 4 / 1e6,
           info->hit ? "cached" : "computed", info->path, (double)info->file_bytes / 1e6,
           info->seconds);
}

static int force_option(int code, const char *value, void *user)
{
    (void)code, (void)value; /* only --force */
    *(int *)user = 1;
    return 0;
}

int cli_features(int argc, char **argv)
{
    static const struct option extra[] = {{"force", no_argument, NULL, 'f'},
                                          {NULL, 0, NULL, 0}};
    cli_config_args args;
    int force = 0;
    int parsed = cli_parse_config_command(COMMAND, argc, argv, extra, run_config_schema,
                                          print_help, &args, force_option, &force);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    run_config rc;
    dataset data;
    dpkit_error err;
    if (run_config_load(args.config_path, args.sets, args.set_count, &rc, &err))
        return cli_fail(COMMAND, &err);
    int status = run_dataset_load(&rc, &data, &err);
    if (status == 0) {
        char description[512];
        features_extractor_describe(&rc.extractor, data.train.channels, description,
                                    sizeof description);
        printf("%s: %s\n", rc.dataset, description);
        /* One split at a time, freed before the next: peak memory stays near the larger
         * feature matrix. */
        const char *splits[2] = {"train", "test"};
        for (int k = 0; k < 2 && status == 0; k++) {
            features_set set;
            features_cache_info info;
            status = features_cached(&rc.extractor, &data, splits[k], force, &set, &info, &err);
            if (status == 0) {
                print_split(splits[k], &set, &info);
                features_set_free(&set);
            }
        }
        dataset_free(&data);
    }
    run_config_free(&rc);
    return status ? cli_fail(COMMAND, &err) : 0;
}
