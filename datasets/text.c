/* Text corpora: documents (one file each) concatenated in memory, split into bytes or UTF-8
 * characters with the vocabulary of the symbols present. */
#include "common/memory.h"
#include "datasets/datasets_internal.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEXT_MAX_DOCUMENTS 1000000

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.txt names of a directory, sorted; *names malloc'd. */
static int list_text_files(const char *directory, char ***names, size_t *count,
                           dpkit_error *err)
{
    *names = NULL;
    *count = 0;
    DIR *dir = opendir(directory);
    if (!dir)
        return error_set(err, "%s: cannot open the directory", directory);
    size_t capacity = 0, n = 0;
    char **list = NULL;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (length <= 4 || strcmp(entry->d_name + length - 4, ".txt") != 0)
            continue;
        if (n == TEXT_MAX_DOCUMENTS ||
            memory_grow((void **)&list, &capacity, n, sizeof *list, 256))
            goto oom;
        if (!(list[n] = strdup(entry->d_name)))
            goto oom;
        n++;
    }
    closedir(dir);
    if (n == 0) {
        free(list);
        return error_set(err, "%s: no *.txt files in the directory", directory);
    }
    qsort(list, n, sizeof *list, compare_names);
    *names = list;
    *count = n;
    return 0;
oom:
    closedir(dir);
    memory_free_strings(list, n);
    return error_set(err, "%s: too many files or out of memory", directory);
}

/* Appends one file's bytes to text->bytes. */
static int append_file(dataset_text *text, size_t *capacity, const char *path, dpkit_error *err)
{
    uint8_t *data;
    size_t size;
    if (datasets_read_file(path, &data, &size, err) != 0)
        return -1;
    if (text->byte_count + size + 1 > *capacity) {
        size_t wanted = 2 * (text->byte_count + size + 1);
        uint8_t *bigger = realloc(text->bytes, wanted);
        if (!bigger) {
            free(data);
            return error_set(err, "out of memory reading %s", path);
        }
        text->bytes = bigger;
        *capacity = wanted;
    }
    memcpy(text->bytes + text->byte_count, data, size);
    text->byte_count += size;
    text->bytes[text->byte_count] = 0;
    free(data);
    return 0;
}

int datasets_text_load(const char *name, dataset_text *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    char directory[4200];
    char **files = NULL;
    size_t file_count = 0;
    int single_file = 0;
    if (strcmp(name, "sotu") == 0) {
        if (datasets_path(directory, sizeof directory, err, "%s/sotu", datasets_data_dir()) != 0)
            return -1;
        struct stat st;
        if (stat(directory, &st) != 0)
            return error_set(err, "sotu is not in %s: run 'dpkit data fetch sotu' (or set "
                                  "DPKIT_DATA to the directory that holds it)",
                             directory);
    } else {
        struct stat st;
        if (stat(name, &st) != 0)
            return error_set(err, "%s: no such text file or directory (expected sotu, a "
                                  "directory of *.txt files or a text file)",
                             name);
        single_file = !S_ISDIR(st.st_mode);
        snprintf(directory, sizeof directory, "%s", name);
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    if (single_file) {
        files = malloc(sizeof *files);
        if (!files || !(files[0] = strdup(name))) {
            free(files);
            return error_set(err, "out of memory");
        }
        file_count = 1;
    } else if (list_text_files(directory, &files, &file_count, err) != 0) {
        return -1;
    }
    out->document_names = calloc(file_count, sizeof *out->document_names);
    out->document_starts = calloc(file_count + 1, sizeof *out->document_starts);
    int status = 0;
    if (!out->document_names || !out->document_starts)
        status = error_set(err, "out of memory for %zu documents", file_count);
    size_t capacity = 0;
    for (size_t i = 0; status == 0 && i < file_count; i++) {
        char path[4400];
        if (single_file)
            snprintf(path, sizeof path, "%s", files[i]);
        else if (datasets_path(path, sizeof path, err, "%s/%s", directory, files[i]) != 0) {
            status = -1;
            break;
        }
        out->document_starts[i] = out->byte_count;
        if (append_file(out, &capacity, path, err) != 0) {
            status = -1;
            break;
        }
        const char *base = strrchr(files[i], '/');
        base = base ? base + 1 : files[i];
        size_t length = strlen(base);
        if (length > 4 && strcmp(base + length - 4, ".txt") == 0)
            length -= 4;
        out->document_names[i] = strndup(base, length);
        out->document_count = i + 1;
        out->document_starts[i + 1] = out->byte_count;
        if (!out->document_names[i])
            status = error_set(err, "out of memory");
    }
    memory_free_strings(files, file_count);
    if (status != 0) {
        datasets_text_free(out);
        return -1;
    }
    if (!out->bytes) {
        out->bytes = calloc(1, 1);
        if (!out->bytes) {
            datasets_text_free(out);
            return error_set(err, "out of memory");
        }
    }
    return 0;
}

void datasets_text_free(dataset_text *text)
{
    if (!text)
        return;
    memory_free_strings(text->document_names, text->document_count);
    MEMORY_FREE_ALL(text->document_starts, text->bytes);
    memset(text, 0, sizeof *text);
}

/* Decodes one UTF-8 character at p (strict: no overlong forms, surrogates or values beyond
 * U+10FFFF); returns its length in bytes, or 0 if the bytes are not valid UTF-8. */
static size_t decode_utf8(const uint8_t *p, size_t available, uint32_t *code_point)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        *code_point = b;
        return 1;
    }
    size_t length;
    uint32_t value, minimum;
    if ((b & 0xe0) == 0xc0) {
        length = 2, value = b & 0x1f, minimum = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
        length = 3, value = b & 0x0f, minimum = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
        length = 4, value = b & 0x07, minimum = 0x10000;
    } else {
        return 0;
    }
    if (length > available)
        return 0;
    for (size_t i = 1; i < length; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        value = value << 6 | (p[i] & 0x3f);
    }
    if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
        return 0;
    *code_point = value;
    return length;
}

/* Largest symbol + 1: bytes 256, UTF-8 all of Unicode. */
#define TEXT_SYMBOL_LIMIT 0x110000u

int datasets_text_tokenize(const dataset_text *text, dataset_text_unit unit, dataset_tokens *out,
                           dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    out->vocabulary.unit = unit;
    out->document_count = text->document_count;
    uint32_t *symbols = malloc((text->byte_count ? text->byte_count : 1) * sizeof *symbols);
    int32_t *id_of = malloc(TEXT_SYMBOL_LIMIT * sizeof *id_of);
    out->document_starts = calloc(text->document_count + 1, sizeof *out->document_starts);
    if (!symbols || !id_of || !out->document_starts) {
        free(symbols);
        free(id_of);
        datasets_tokens_free(out);
        return error_set(err, "out of memory tokenizing %zu bytes", text->byte_count);
    }
    /* Pass 1: symbols of every position (code points or bytes), marking those present. */
    memset(id_of, 0, TEXT_SYMBOL_LIMIT * sizeof *id_of);
    size_t n = 0;
    for (size_t d = 0; d < text->document_count; d++) {
        out->document_starts[d] = n;
        size_t end = text->document_starts[d + 1];
        for (size_t i = text->document_starts[d]; i < end;) {
            uint32_t symbol = text->bytes[i];
            size_t length = 1;
            if (unit == DATASET_TEXT_UTF8 && symbol >= 0x80) {
                length = decode_utf8(text->bytes + i, end - i, &symbol);
                if (length == 0) {
                    error_set(err, "document %s: invalid UTF-8 at byte %zu (0x%02x)",
                              text->document_names[d], i - text->document_starts[d],
                              text->bytes[i]);
                    free(symbols);
                    free(id_of);
                    datasets_tokens_free(out);
                    return -1;
                }
            }
            symbols[n++] = symbol;
            id_of[symbol] = 1;
            i += length;
        }
    }
    out->document_starts[text->document_count] = n;
    /* Pass 2: ids in symbol order, then map every position. */
    size_t size = 0;
    for (uint32_t s = 0; s < TEXT_SYMBOL_LIMIT; s++)
        if (id_of[s])
            size++;
    out->vocabulary.symbols = malloc((size ? size : 1) * sizeof *out->vocabulary.symbols);
    out->ids = malloc((n ? n : 1) * sizeof *out->ids);
    if (!out->vocabulary.symbols || !out->ids) {
        free(symbols);
        free(id_of);
        datasets_tokens_free(out);
        return error_set(err, "out of memory tokenizing %zu symbols", n);
    }
    size_t next = 0;
    for (uint32_t s = 0; s < TEXT_SYMBOL_LIMIT; s++) {
        if (id_of[s]) {
            out->vocabulary.symbols[next] = s;
            id_of[s] = (int32_t)next++;
        }
    }
    out->vocabulary.size = size;
    for (size_t i = 0; i < n; i++)
        out->ids[i] = id_of[symbols[i]];
    out->count = n;
    free(symbols);
    free(id_of);
    return 0;
}

void datasets_tokens_free(dataset_tokens *tokens)
{
    if (!tokens)
        return;
    MEMORY_FREE_ALL(tokens->ids, tokens->document_starts, tokens->vocabulary.symbols);
    memset(tokens, 0, sizeof *tokens);
}

static int find_symbol(const dataset_vocabulary *v, uint32_t symbol)
{
    size_t low = 0, high = v->size;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (v->symbols[middle] < symbol)
            low = middle + 1;
        else
            high = middle;
    }
    return low < v->size && v->symbols[low] == symbol ? (int)low : -1;
}

int datasets_vocabulary_encode(const dataset_vocabulary *vocabulary, const char *text,
                               int32_t *ids, size_t *count, dpkit_error *err)
{
    const uint8_t *bytes = (const uint8_t *)text;
    size_t length = strlen(text), n = 0;
    for (size_t i = 0; i < length;) {
        uint32_t symbol = bytes[i];
        size_t step = 1;
        if (vocabulary->unit == DATASET_TEXT_UTF8 && symbol >= 0x80) {
            step = decode_utf8(bytes + i, length - i, &symbol);
            if (step == 0)
                return error_set(err, "invalid UTF-8 at byte %zu of \"%.80s\"", i, text);
        }
        int id = find_symbol(vocabulary, symbol);
        if (id < 0)
            return error_set(err, "symbol U+%04X at byte %zu of \"%.80s\" is not in the "
                                  "vocabulary",
                             symbol, i, text);
        ids[n++] = id;
        i += step;
    }
    *count = n;
    return 0;
}

int datasets_vocabulary_decode(const dataset_vocabulary *vocabulary, const int32_t *ids,
                               size_t count, char *out, size_t out_size, dpkit_error *err)
{
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= vocabulary->size)
            return error_set(err, "token id %d at position %zu is out of range: expected 0..%zu",
                             ids[i], i, vocabulary->size - 1);
        uint32_t s = vocabulary->symbols[ids[i]];
        uint8_t encoded[4];
        size_t length;
        if (vocabulary->unit == DATASET_TEXT_BYTES || s < 0x80) {
            encoded[0] = (uint8_t)s, length = 1;
        } else if (s < 0x800) {
            encoded[0] = (uint8_t)(0xc0 | s >> 6), encoded[1] = (uint8_t)(0x80 | (s & 0x3f));
            length = 2;
        } else if (s < 0x10000) {
            encoded[0] = (uint8_t)(0xe0 | s >> 12);
            encoded[1] = (uint8_t)(0x80 | ((s >> 6) & 0x3f));
            encoded[2] = (uint8_t)(0x80 | (s & 0x3f));
            length = 3;
        } else {
            encoded[0] = (uint8_t)(0xf0 | s >> 18);
            encoded[1] = (uint8_t)(0x80 | ((s >> 12) & 0x3f));
            encoded[2] = (uint8_t)(0x80 | ((s >> 6) & 0x3f));
            encoded[3] = (uint8_t)(0x80 | (s & 0x3f));
            length = 4;
        }
        if (used + length + 1 > out_size)
            return error_set(err, "decoded text does not fit in %zu bytes", out_size);
        memcpy(out + used, encoded, length);
        used += length;
    }
    if (out_size == 0)
        return error_set(err, "decoded text does not fit in 0 bytes");
    out[used] = '\0';
    return 0;
}
