/* Pieces shared by the files of the datasets module (not part of the public API): the checksum
 * tables, whole-file reading (raw or gzip), sha256, paths and running external programs. */
#ifndef DPKIT_DATASETS_INTERNAL_H
#define DPKIT_DATASETS_INTERNAL_H

#include "common/error.h"
#include "datasets/datasets.h"

#include <stddef.h>
#include <stdint.h>

typedef struct datasets_checksum {
    const char *set;    /* "mnist", "fashion-mnist", "cifar10", "sotu" */
    const char *file;   /* name inside the set's directory (or the package tarball's name) */
    const char *sha256; /* lowercase hex */
} datasets_checksum;

/* Terminated by an entry with set == NULL. */
extern const datasets_checksum datasets_checksums[];
extern const datasets_checksum datasets_package_checksums[];

/* Largest file or decompressed stream a loader accepts; anything bigger is called absurd
 * rather than allocated. */
#define DATASETS_MAX_FILE_BYTES ((size_t)16 << 30)

/* An open file that reads raw bytes or, when it starts with the gzip magic, decompressed bytes
 * (zlib's gz* functions, which pass other files through unchanged). */
typedef struct datasets_reader datasets_reader;
int datasets_reader_open(const char *path, datasets_reader **out, dpkit_error *err);
/* Reads exactly n bytes (one large read); a short read is a "truncated" error naming `what`. */
int datasets_reader_read(datasets_reader *r, void *buffer, size_t n, const char *what,
                         dpkit_error *err);
/* Reads exactly n bytes into a buffer it allocates (*out, free() it), never larger than what the
 * file can hold: a raw file must have n bytes left before anything is allocated; a gzip file,
 * whose decompressed size is only known at its end, must be large enough for n bytes at
 * deflate's largest ratio and is then read in pieces into a buffer that grows with the data. */
int datasets_reader_read_new(datasets_reader *r, size_t n, const char *what, uint8_t **out,
                             dpkit_error *err);
/* Fails unless the file has no bytes left (trailing data means the header lied). */
int datasets_reader_expect_end(datasets_reader *r, dpkit_error *err);
void datasets_reader_close(datasets_reader *r);

/* malloc for large image arrays (free() releases it): 2 MiB aligned and marked for transparent
 * huge pages, because first-touch page faults dominate the load time of a 150 MB set. */
void *datasets_alloc_large(size_t size);

/* Reads a whole file (raw or gzip) into a malloc'd buffer. */
int datasets_read_file(const char *path, uint8_t **data, size_t *size, dpkit_error *err);
/* Writes bytes to path via a temporary name and rename. */
int datasets_write_file_atomic(const char *path, const void *data, size_t size, dpkit_error *err);

/* sha256 of bytes / of a whole file (raw bytes, never decompressed), as 64 hex chars + NUL. */
void datasets_sha256_hex(const void *data, size_t size, char hex[65]);
int datasets_sha256_file(const char *path, char hex[65], dpkit_error *err);

/* snprintf into a path buffer, failing cleanly when it does not fit. */
int datasets_path(char *out, size_t size, dpkit_error *err, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the shape of a split of uint8 images (count, channels, height, width), not its arrays. */
void datasets_split_set_uint8(dataset_split *split, size_t count, size_t channels, size_t height,
                              size_t width);
/* Frees a split's images and labels and zeroes it. */
void datasets_split_free(dataset_split *split);

/* Class names: a malloc'd array of class_count malloc'd strings copied from `names`, or "0", "1",
 * ... when names is NULL. */
int datasets_set_class_names(dataset *d, int class_count, const char *const *names,
                             dpkit_error *err);

/* Loaders of one source each (the files dataset_load dispatches to). */
int datasets_load_mnist_like(const char *name, const char *directory, dataset *out,
                             dpkit_error *err);
int datasets_load_cifar10_directory(const char *directory, dataset *out, dpkit_error *err);

#endif
