/* File helpers of the datasets module: reading raw or gzip files with few large reads, atomic
 * writes, sha256 with libsodium, bounded path formatting, class-name arrays. */
#include "datasets/datasets_internal.h"

#include "common/durable.h"
#include "common/memory.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct datasets_reader {
    gzFile file;
    char path[4096];
};

int datasets_reader_open(const char *path, datasets_reader **out, dpkit_error *err)
{
    *out = NULL;
    datasets_reader *r = calloc(1, sizeof *r);
    if (!r)
        return error_set(err, "%s: out of memory", path);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->file = gzopen(path, "rb");
    if (!r->file) {
        int saved = errno;
        free(r);
        return error_set(err, "%s: cannot open: %s", path, saved ? strerror(saved) : "out of memory");
    }
    gzbuffer(r->file, 1 << 20);
    *out = r;
    return 0;
}

/* gzread takes an unsigned int count, so large reads go in chunks (still few calls). */
static size_t read_some(datasets_reader *r, uint8_t *buffer, size_t n, int *failed)
{
    size_t done = 0;
    *failed = 0;
    while (done < n) {
        size_t chunk = n - done;
        if (chunk > (1u << 30))
            chunk = 1u << 30;
        int got = gzread(r->file, buffer + done, (unsigned)chunk);
        if (got < 0) {
            *failed = 1;
            break;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return done;
}

static const char *gz_message(datasets_reader *r)
{
    int code = 0;
    const char *message = gzerror(r->file, &code);
    return code == Z_OK || !message ? "" : message;
}

int datasets_reader_read(datasets_reader *r, void *buffer, size_t n, const char *what,
                         dpkit_error *err)
{
    int failed;
    size_t got = read_some(r, buffer, n, &failed);
    if (failed)
        return error_set(err, "%s: corrupt data while reading %s (%s)", r->path, what,
                         gz_message(r));
    if (got < n) {
        const char *detail = gz_message(r);
        return error_set(err, "%s: truncated file: %s needs %zu bytes, only %zu present%s%s",
                         r->path, what, n, got, *detail ? "; " : "", detail);
    }
    return 0;
}

/* Deflate codes a run of 258 bytes in at least 2 bits, so no gzip member decompresses to more
 * than 1032 times its size (plus the header and trailer). */
#define GZIP_MAX_RATIO 1032u

int datasets_reader_read_new(datasets_reader *r, size_t n, const char *what, uint8_t **out,
                             dpkit_error *err)
{
    *out = NULL;
    struct stat st;
    if (stat(r->path, &st) != 0)
        return error_set(err, "%s: cannot stat: %s", r->path, strerror(errno));
    size_t file_size = (size_t)st.st_size;
    if (gzdirect(r->file)) {
        z_off_t at = gztell(r->file);
        size_t left = at >= 0 && (size_t)at <= file_size ? file_size - (size_t)at : 0;
        if (left < n)
            return error_set(err, "%s: truncated file: %s needs %zu bytes, only %zu present",
                             r->path, what, n, left);
        uint8_t *buffer = datasets_alloc_large(n);
        if (!buffer)
            return error_set(err, "%s: out of memory for %s (%zu bytes)", r->path, what, n);
        if (datasets_reader_read(r, buffer, n, what, err) != 0) {
            free(buffer);
            return -1;
        }
        *out = buffer;
        return 0;
    }
    if (n / GZIP_MAX_RATIO > file_size)
        return error_set(err, "%s: truncated file: %s needs %zu bytes, a gzip file of %zu bytes "
                         "holds at most %zu", r->path, what, n, file_size,
                         file_size * GZIP_MAX_RATIO);
    size_t capacity = n < ((size_t)64 << 20) ? n : (size_t)64 << 20, used = 0;
    uint8_t *buffer = malloc(capacity ? capacity : 1);
    for (;;) {
        if (!buffer)
            return error_set(err, "%s: out of memory for %s (%zu bytes)", r->path, what, capacity);
        int failed;
        size_t got = read_some(r, buffer + used, capacity - used, &failed);
        used += got;
        if (failed || used < capacity) {
            free(buffer);
            if (failed)
                return error_set(err, "%s: corrupt data while reading %s (%s)", r->path, what,
                                 gz_message(r));
            const char *detail = gz_message(r);
            return error_set(err, "%s: truncated file: %s needs %zu bytes, only %zu present%s%s",
                             r->path, what, n, used, *detail ? "; " : "", detail);
        }
        if (used == n)
            break;
        /* the data so far filled the buffer: double it, never past n */
        capacity = n - capacity < capacity ? n : 2 * capacity;
        uint8_t *bigger = realloc(buffer, capacity);
        if (!bigger)
            free(buffer);
        buffer = bigger;
    }
    *out = buffer;
    return 0;
}

int datasets_reader_expect_end(datasets_reader *r, dpkit_error *err)
{
    uint8_t extra;
    int failed;
    size_t got = read_some(r, &extra, 1, &failed);
    if (failed)
        return error_set(err, "%s: corrupt data at the end of the file (%s)", r->path,
                         gz_message(r));
    if (got != 0)
        return error_set(err, "%s: unexpected bytes after the data the header describes",
                         r->path);
    return 0;
}

void datasets_reader_close(datasets_reader *r)
{
    if (!r)
        return;
    gzclose(r->file);
    free(r);
}

void *datasets_alloc_large(size_t size)
{
    return memory_alloc_large(size);
}

int datasets_read_file(const char *path, uint8_t **data, size_t *size, dpkit_error *err)
{
    *data = NULL;
    *size = 0;
    datasets_reader *r;
    if (datasets_reader_open(path, &r, err) != 0)
        return -1;
    size_t capacity = 1 << 20, used = 0;
    uint8_t *buffer = malloc(capacity + 1);
    if (!buffer) {
        datasets_reader_close(r);
        return error_set(err, "%s: out of memory", path);
    }
    for (;;) {
        int failed;
        size_t got = read_some(r, buffer + used, capacity - used, &failed);
        if (failed) {
            error_set(err, "%s: corrupt data (%s)", path, gz_message(r));
            goto fail;
        }
        used += got;
        if (used < capacity)
            break;
        if (capacity >= DATASETS_MAX_FILE_BYTES) {
            error_set(err, "%s: absurd size: more than %zu bytes", path, DATASETS_MAX_FILE_BYTES);
            goto fail;
        }
        capacity *= 2;
        uint8_t *bigger = realloc(buffer, capacity + 1);
        if (!bigger) {
            error_set(err, "%s: out of memory (%zu bytes)", path, capacity);
            goto fail;
        }
        buffer = bigger;
    }
    /* A truncated gzip stream reads as a short file; zlib reports it at the end. */
    const char *detail = gz_message(r);
    if (*detail) {
        error_set(err, "%s: truncated or corrupt gzip data (%s)", path, detail);
        goto fail;
    }
    datasets_reader_close(r);
    buffer[used] = 0;
    *data = buffer;
    *size = used;
    return 0;
fail:
    free(buffer);
    datasets_reader_close(r);
    return -1;
}

int datasets_write_file_atomic(const char *path, const void *data, size_t size, dpkit_error *err)
{
    char temp[4200];
    snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(temp, "wb");
    if (!f)
        return error_set(err, "%s: cannot create: %s", temp, strerror(errno));
    size_t written = fwrite(data, 1, size, f);
    int closed = fclose(f);
    if (written != size || closed != 0) {
        unlink(temp);
        return error_set(err, "%s: write failed (disk full?)", temp);
    }
    return durable_replace(temp, path, err);
}

static void to_hex(const unsigned char digest[crypto_hash_sha256_BYTES], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < crypto_hash_sha256_BYTES; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

void datasets_sha256_hex(const void *data, size_t size, char hex[65])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data, size);
    to_hex(digest, hex);
}

int datasets_sha256_file(const char *path, char hex[65], dpkit_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buffer = malloc(CHUNK);
    if (!buffer) {
        fclose(f);
        return error_set(err, "%s: out of memory", path);
    }
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    size_t got;
    while ((got = fread(buffer, 1, CHUNK, f)) > 0)
        crypto_hash_sha256_update(&state, buffer, got);
    int failed = ferror(f);
    fclose(f);
    free(buffer);
    if (failed)
        return error_set(err, "%s: read error", path);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state, digest);
    to_hex(digest, hex);
    return 0;
}

int datasets_path(char *out, size_t size, dpkit_error *err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int n = vsnprintf(out, size, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "path too long (%d characters, at most %zu): %.200s...", n,
                         size - 1, out);
    return 0;
}

int datasets_set_class_names(dataset *d, int class_count, const char *const *names,
                             dpkit_error *err)
{
    d->class_count = class_count;
    d->class_names = calloc((size_t)class_count, sizeof *d->class_names);
    if (!d->class_names)
        return error_set(err, "out of memory for %d class names", class_count);
    for (int i = 0; i < class_count; i++) {
        char number[32];
        snprintf(number, sizeof number, "%d", i);
        d->class_names[i] = strdup(names ? names[i] : number);
        if (!d->class_names[i])
            return error_set(err, "out of memory for class names");
    }
    return 0;
}
