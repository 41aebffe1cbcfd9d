/* HDF5 feature cache: features of one dataset split for one set of extractor parameters,
 * computed in chunks straight into the file (peak memory stays near one chunk while computing),
 * and reused only when key, dataset checksum, dpkit version, shape and content checksum match. */
#include "features/features.h"

#include "common/h5io.h"
#include "common/log.h"
#include "common/memory.h"
#include "common/paths.h"
#include "common/progress.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHUNK_BYTES ((size_t)64 << 20)
/* Loads of this size or more show progress (a ScatterNet cache of CIFAR-10 is several GB and
 * takes tens of seconds to read); smaller ones take about a second and stay silent. */
#define PROGRESS_BYTES ((size_t)256 << 20)
#define CACHE_FORMAT "dpkit-features-1"

void features_set_free(features_set *set)
{
    free(set->values);
    free(set->labels);
    memset(set, 0, sizeof *set);
}

size_t features_set_dimension(const features_set *set)
{
    return set->channels * set->height * set->width;
}

const char *features_cache_dir(void)
{
    return paths_cache_dir();
}

static void to_hex(const unsigned char *bytes, size_t n, char *hex)
{
    for (size_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", bytes[i]);
}

/* BLAKE2b-256 of the split's shape, images and labels, as hex. */
static void split_checksum(const dataset_split *split, char hex[65])
{
    crypto_generichash_state state;
    unsigned char digest[32];
    unsigned long long shape[5] = {split->count, split->channels, split->height, split->width,
                                   (unsigned long long)split->dtype};
    size_t pixel = split->dtype == DATASET_UINT8 ? 1 : sizeof(float);
    crypto_generichash_init(&state, NULL, 0, sizeof digest);
    crypto_generichash_update(&state, (const unsigned char *)shape, sizeof shape);
    crypto_generichash_update(&state, split->images,
                              split->count * split->channels * split->height * split->width * pixel);
    crypto_generichash_update(&state, (const unsigned char *)split->labels,
                              split->count * sizeof *split->labels);
    crypto_generichash_final(&state, digest, sizeof digest);
    to_hex(digest, sizeof digest, hex);
}

/* "<dir>/<dataset>-<split>-<extractor>-<16 hex of the key's hash>.h5" */
static int cache_path(const char *dataset_name, const char *split_name, const char *extractor,
                      const char *key, char *path, size_t size, dpkit_error *err)
{
    char safe[64];
    size_t n = 0;
    for (const char *c = dataset_name; *c && n + 1 < sizeof safe; c++)
        safe[n++] = isalnum((unsigned char)*c) || *c == '-' ? *c : '_';
    safe[n] = '\0';
    unsigned char digest[8];
    char hex[17];
    crypto_generichash(digest, sizeof digest, (const unsigned char *)key, strlen(key), NULL, 0);
    to_hex(digest, sizeof digest, hex);
    int w = snprintf(path, size, "%s/%s-%s-%s-%s.h5", features_cache_dir(), safe, split_name,
                     extractor, hex);
    if (w < 0 || (size_t)w >= size)
        return error_set(err, "feature cache: path too long under %s", features_cache_dir());
    return 0;
}

typedef struct expected {
    const char *key, *dataset_checksum;
    size_t count, channels, height, width;
    int class_count;
    size_t keep_first, keep_count; /* the rows a load holds (all: 0, count) */
} expected;

static int attribute_matches(h5io_file *f, const char *name, const char *want, char *why,
                             size_t why_size)
{
    char *value = NULL;
    dpkit_error ignored;
    int same = h5io_read_attr_string(f, "/features", name, &value, &ignored) == 0 &&
               strcmp(value, want) == 0;
    if (!same)
        snprintf(why, why_size, "attribute %s is '%s', expected '%s'", name,
                 value ? value : "(missing)", want);
    free(value);
    return same;
}

/* The values and labels of a cache whose checksum matches: a matching checksum only says the
 * file is what was written (or what someone recomputed it for), so non-finite features or
 * labels outside the classes are refused here, before they reach training or evaluation. */
static int check_content(const char *path, const float *values, size_t value_count,
                         const int32_t *labels, size_t count, int class_count, dpkit_error *err)
{
    for (size_t j = 0; j < value_count; j++)
        if (!isfinite(values[j]))
            return error_set(err, "feature cache %s: /features value %g at index %zu (example "
                             "%zu, feature %zu) is not finite: expected finite features (delete "
                             "the file to rebuild it)", path, (double)values[j], j,
                             j / (value_count / count), j % (value_count / count));
    for (size_t i = 0; i < count; i++)
        if (labels[i] < 0 || labels[i] >= class_count)
            return error_set(err, "feature cache %s: /labels value %d at index %zu: expected a "
                             "class in 0..%d (delete the file to rebuild it)", path,
                             (int)labels[i], i, class_count - 1);
    return 0;
}

/* Whole MiB, rounded up: the last slab reaches the total. */
static size_t to_mib(size_t bytes)
{
    return (bytes + ((size_t)1 << 20) - 1) >> 20;
}

/* Reads /features of the shape `want` in slabs of about CHUNK_BYTES, hashing each into `hash` as
 * it arrives, with progress in MiB for a large file (label NULL: none); *values is malloc'd and
 * holds the rows want->keep_first.. (want->keep_count of them): every row is hashed, only those
 * are kept, so a rank's shard costs its own rows plus one slab.
 * Fails (why set) on a dataset that is not float data fully stored in the file. */
static int read_features(h5io_file *f, const expected *want, const char *label, float **values,
                         crypto_generichash_state *hash, char *why, size_t why_size)
{
    *values = NULL;
    hid_t dset = H5Dopen2(f->id, "/features", H5P_DEFAULT);
    if (dset < 0) {
        snprintf(why, why_size, "/features is not a dataset");
        return -1;
    }
    hid_t stored = H5Dget_type(dset), space = H5Dget_space(dset);
    size_t stored_size = stored < 0 ? 0 : H5Tget_size(stored);
    int is_float = stored >= 0 && H5Tget_class(stored) == H5T_FLOAT;
    if (stored >= 0)
        H5Tclose(stored);
    dpkit_error err;
    size_t row = want->channels * want->height * want->width, count = want->count;
    size_t bytes = count * row * sizeof(float), kept = want->keep_count * row * sizeof(float);
    size_t slab = row ? CHUNK_BYTES / (row * sizeof(float)) : 1;
    if (slab < 1) /* a row of more than 64 MiB */
        slab = 1;
    int all = want->keep_count == count;
    float *scratch = all ? NULL : malloc((slab < count ? slab : count) * row * sizeof *scratch);
    int status = -1;
    if (space < 0 || !is_float || stored_size == 0 || stored_size > 8)
        snprintf(why, why_size, "/features: expected float data of 4 or 8 bytes");
    else if (h5io_check_storage(f, dset, "/features", &err))
        snprintf(why, why_size, "%s", err.message);
    else if (!(*values = memory_alloc_large(kept ? kept : 1)) || (!all && !scratch))
        snprintf(why, why_size, "out of memory for /features (%zu bytes)", kept);
    else
        status = 0;
    progress bar;
    int shown = label && bytes >= PROGRESS_BYTES;
    if (shown)
        progress_start(&bar, label, to_mib(bytes), "MiB");
    for (size_t first = 0; status == 0 && first < count; first += slab) {
        size_t n = count - first < slab ? count - first : slab;
        hsize_t start[4] = {first, 0, 0, 0};
        hsize_t size[4] = {n, want->channels, want->height, want->width};
        hid_t memory = H5Screate_simple(4, size, NULL);
        float *at = all ? *values + first * row : scratch;
        if (memory < 0 ||
            H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, size, NULL) < 0 ||
            H5Dread(dset, H5T_NATIVE_FLOAT, memory, space, H5P_DEFAULT, at) < 0) {
            snprintf(why, why_size, "unreadable /features (examples %zu..%zu)", first, first + n);
            status = -1;
        } else {
            crypto_generichash_update(hash, (const unsigned char *)at, n * row * sizeof(float));
            size_t lo = first > want->keep_first ? first : want->keep_first;
            size_t end = want->keep_first + want->keep_count;
            size_t hi = first + n < end ? first + n : end;
            if (!all && lo < hi)
                memcpy(*values + (lo - want->keep_first) * row, at + (lo - first) * row,
                       (hi - lo) * row * sizeof(float));
        }
        if (memory >= 0)
            H5Sclose(memory);
        if (shown)
            progress_update(&bar, to_mib((first + n) * row * sizeof(float)));
    }
    if (shown && status == 0)
        progress_finish(&bar);
    H5IO_CLOSE_ALL(space, dset);
    free(scratch);
    if (status) {
        free(*values);
        *values = NULL;
    }
    return status;
}

/* Loads a cache file if it is valid for `want`; returns 1 when loaded, 0 when it must be
 * rebuilt (why says what is wrong), never uses a file that does not match; -1 (err set) when
 * a file that matches holds values no run may use. */
static int try_load(const char *path, const expected *want, const char *label,
                    features_set *out, char *why, size_t why_size, dpkit_error *fail)
{
    h5io_file *f;
    dpkit_error err;
    if (h5io_open_read(path, &f, &err) != 0) {
        snprintf(why, why_size, "%s", err.message);
        return 0;
    }
    int ok = attribute_matches(f, "format", CACHE_FORMAT, why, why_size) &&
             attribute_matches(f, "key", want->key, why, why_size) &&
             attribute_matches(f, "dataset_checksum", want->dataset_checksum, why, why_size) &&
             attribute_matches(f, "dpkit_version", DPKIT_VERSION, why, why_size);
    int rank = 0, label_rank = 0;
    size_t dims[H5IO_MAX_RANK], label_dims[H5IO_MAX_RANK];
    if (ok && (h5io_array_shape(f, "/features", &rank, dims, &err) != 0 || rank != 4 ||
               dims[0] != want->count || dims[1] != want->channels ||
               dims[2] != want->height || dims[3] != want->width)) {
        snprintf(why, why_size, "/features has the wrong shape");
        ok = 0;
    }
    float *values = NULL;
    int32_t *labels = NULL;
    /* The content checksum (BLAKE2b-256 of the values, then the labels, as written) is
     * computed as the slabs arrive. */
    crypto_generichash_state hash;
    unsigned char digest[32];
    crypto_generichash_init(&hash, NULL, 0, sizeof digest);
    if (ok && read_features(f, want, label, &values, &hash, why, why_size))
        ok = 0;
    if (ok && (h5io_read_array(f, "/labels", H5IO_INT32, &label_rank, label_dims,
                               (void **)&labels, &err) ||
               label_rank != 1 || label_dims[0] != want->count)) {
        snprintf(why, why_size, "unreadable /labels");
        ok = 0;
    }
    if (ok) {
        char stored[65];
        crypto_generichash_update(&hash, (const unsigned char *)labels,
                                  want->count * sizeof *labels);
        crypto_generichash_final(&hash, digest, sizeof digest);
        to_hex(digest, sizeof digest, stored);
        ok = attribute_matches(f, "content_checksum", stored, why, why_size);
    }
    h5io_close(f);
    if (ok && want->keep_first) /* the shard's labels first */
        memmove(labels, labels + want->keep_first, want->keep_count * sizeof *labels);
    if (ok && check_content(path, values,
                            want->keep_count * want->channels * want->height * want->width,
                            labels, want->keep_count, want->class_count, fail)) {
        free(values);
        free(labels);
        return -1;
    }
    if (!ok) {
        free(values);
        free(labels);
        return 0;
    }
    *out = (features_set){want->keep_count, want->channels, want->height, want->width, values,
                          labels};
    return 1;
}

/* Computes the features chunk by chunk into a new cache file (atomic). */
static int build(const features_extractor_config *config, const dataset_split *split,
                 const char *path, const expected *want, const char *label, dpkit_error *err)
{
    features_extractor *ex = NULL;
    size_t item = want->channels * want->height * want->width;
    size_t chunk = CHUNK_BYTES / (4 * item + 4 * split->channels * split->height * split->width);
    if (chunk < 1)
        chunk = 1;
    if (chunk > split->count)
        chunk = split->count ? split->count : 1;
    if (features_extractor_create(config, split->channels, split->height, split->width, chunk,
                                  &ex, err))
        return -1;
    float *buffer = malloc(chunk * item * sizeof *buffer);
    h5io_file *f = NULL;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID, plist = H5I_INVALID_HID;
    int status = -1;
    if (!buffer) {
        error_set(err, "feature cache: out of memory for %zu examples", chunk);
        goto done;
    }
    if (h5io_create(path, &f, err))
        goto done;
    hsize_t dims[4] = {want->count, want->channels, want->height, want->width};
    /* Contiguous layout: written by hyperslabs, read back with a single read. */
    space = H5Screate_simple(4, dims, NULL);
    plist = H5Pcreate(H5P_DATASET_CREATE);
    dset = H5Dcreate2(f->id, "/features", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, plist,
                      H5P_DEFAULT);
    if (dset < 0) {
        error_set(err, "%s: cannot create /features", path);
        goto done;
    }
    crypto_generichash_state hash;
    unsigned char digest[32];
    char content_hex[65];
    crypto_generichash_init(&hash, NULL, 0, sizeof digest);
    progress bar;
    progress_start(&bar, label, split->count, "images");
    for (size_t first = 0; first < split->count; first += chunk) {
        size_t n = split->count - first < chunk ? split->count - first : chunk;
        if (features_extractor_run(ex, split, first, n, buffer, err))
            goto done;
        hsize_t start[4] = {first, 0, 0, 0}, size[4] = {n, dims[1], dims[2], dims[3]};
        hid_t memory = H5Screate_simple(4, size, NULL);
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, size, NULL);
        herr_t w = H5Dwrite(dset, H5T_NATIVE_FLOAT, memory, space, H5P_DEFAULT, buffer);
        H5Sclose(memory);
        if (w < 0) {
            error_set(err, "%s: writing examples %zu..%zu failed (disk full?)", path, first,
                      first + n);
            goto done;
        }
        crypto_generichash_update(&hash, (const unsigned char *)buffer, n * item * sizeof(float));
        progress_update(&bar, first + n);
    }
    progress_finish(&bar);
    crypto_generichash_update(&hash, (const unsigned char *)split->labels,
                              split->count * sizeof *split->labels);
    crypto_generichash_final(&hash, digest, sizeof digest);
    to_hex(digest, sizeof digest, content_hex);
    H5Dclose(dset);
    dset = H5I_INVALID_HID;
    size_t label_dims = split->count;
    char description[512];
    features_extractor_describe(config, split->channels, description, sizeof description);
    if (h5io_write_array(f, "/labels", H5IO_INT32, 1, &label_dims, split->labels, err) ||
        h5io_write_attr_string(f, "/features", "format", CACHE_FORMAT, err) ||
        h5io_write_attr_string(f, "/features", "key", want->key, err) ||
        h5io_write_attr_string(f, "/features", "parameters", description, err) ||
        h5io_write_attr_string(f, "/features", "dataset_checksum", want->dataset_checksum, err) ||
        h5io_write_attr_string(f, "/features", "content_checksum", content_hex, err) ||
        h5io_write_attr_string(f, "/features", "dpkit_version", DPKIT_VERSION, err))
        goto done;
    status = h5io_commit(f, err);
    f = NULL;
done:
    H5IO_CLOSE_ALL(dset, space, plist);
    if (f)
        h5io_abort(f);
    free(buffer);
    features_extractor_free(ex);
    return status;
}

int features_cached(const features_extractor_config *config, const dataset *data,
                    const char *split_name, int force, features_set *out,
                    features_cache_info *info, dpkit_error *err)
{
    return features_cached_rows(config, data, split_name, force, 0, SIZE_MAX, 0, out, info, err);
}

/* The split, its cache key (in key, 2048 bytes) and dataset checksum, and the file's path. */
static int cache_target(const features_extractor_config *config, const dataset *data,
                        const char *split_name, const dataset_split **split, char *key,
                        char checksum[65], char *path, size_t size, dpkit_error *err)
{
    if (strcmp(split_name, "train") == 0)
        *split = &data->train;
    else if (strcmp(split_name, "test") == 0)
        *split = &data->test;
    else
        return error_set(err, "feature cache: split '%s', expected train or test", split_name);
    if ((*split)->count == 0)
        return error_set(err, "%s: the %s split is empty", data->name, split_name);
    char description[512];
    features_extractor_describe(config, (*split)->channels, description, sizeof description);
    snprintf(key, 2048, "dataset=%s;split=%s;%s", data->name, split_name, description);
    split_checksum(*split, checksum);
    return paths_make_directory(features_cache_dir(), err) ||
           cache_path(data->name, split_name, features_extractor_kind_name(config->kind), key,
                      path, size, err);
}

int features_cache_file(const features_extractor_config *config, const dataset *data,
                        const char *split_name, char *path, size_t size, dpkit_error *err)
{
    const dataset_split *split;
    char key[2048], checksum[65];
    return cache_target(config, data, split_name, &split, key, checksum, path, size, err);
}

int features_cached_rows(const features_extractor_config *config, const dataset *data,
                         const char *split_name, int force, size_t first, size_t count,
                         size_t max_bytes, features_set *out, features_cache_info *info,
                         dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    double start = progress_now();
    const dataset_split *split;
    char key[2048], checksum[65];
    if (cache_target(config, data, split_name, &split, key, checksum, info->path,
                     sizeof info->path, err))
        return -1;

    /* The output shape, from a one-image extractor (cheap: plans are built once more below). */
    features_extractor *probe;
    if (features_extractor_create(config, split->channels, split->height, split->width, 1,
                                  &probe, err))
        return -1;
    expected want = {.count = split->count, .class_count = data->class_count};
    features_extractor_shape(probe, &want.channels, &want.height, &want.width);
    features_extractor_free(probe);
    if (first > split->count)
        first = split->count;
    want.keep_first = first;
    want.keep_count = count < split->count - first ? count : split->count - first;
    size_t row_bytes = want.channels * want.height * want.width * sizeof(float);
    if (max_bytes && want.keep_count * row_bytes > max_bytes)
        return error_set(err, "%s %s features: %zu examples of %zu bytes are %.1f MiB, more than "
                         "the %.1f MiB one rank may hold", data->name, split_name,
                         want.keep_count, row_bytes,
                         (double)(want.keep_count * row_bytes) / (1 << 20),
                         (double)max_bytes / (1 << 20));

    want.key = key;
    want.dataset_checksum = checksum;

    struct stat st;
    char why[1200] = "";
    char label[96]; /* progress label: a long dataset name is cut to its first 60 bytes */
    snprintf(label, sizeof label, "%.60s %s %s (cache)", data->name, split_name,
             features_extractor_kind_name(config->kind));
    if (force <= 0 && stat(info->path, &st) == 0) {
        int loaded = try_load(info->path, &want, label, out, why, sizeof why, err);
        if (loaded < 0)
            return -1;
        if (loaded) {
            info->hit = 1;
            info->file_bytes = (size_t)st.st_size;
            info->seconds = progress_now() - start;
            log_debug("feature cache: loaded %s", info->path);
            return 0;
        }
        if (force < 0)
            return error_set(err, "feature cache: %s is not valid for this run (%s); expected "
                             "the file rank 0 checked: run again (rank 0 rebuilds it)",
                             info->path, why);
        log_warn("feature cache: %s is not valid for this run (%s); rebuilding", info->path, why);
    } else if (force < 0) {
        return error_set(err, "feature cache: no %s; expected the file rank 0 checked",
                         info->path);
    }
    snprintf(label, sizeof label, "%.60s %s %s", data->name, split_name,
             features_extractor_kind_name(config->kind));
    if (build(config, split, info->path, &want, label, err))
        return -1;
    /* Read back silently: the build's own bar has just shown the work. */
    int loaded = try_load(info->path, &want, NULL, out, why, sizeof why, err);
    if (loaded < 0)
        return -1;
    if (!loaded)
        return error_set(err, "feature cache: %s just written does not read back: %s",
                         info->path, why);
    if (stat(info->path, &st) == 0)
        info->file_bytes = (size_t)st.st_size;
    info->seconds = progress_now() - start;
    return 0;
}
