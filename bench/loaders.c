/* Benchmark: load times of the real datasets from the data directory (MNIST and Fashion-MNIST
 * IDX files, CIFAR-10 binary batches, the SOTU text corpus). Best of several runs, page cache
 * warm; the first load of each set is reported too (it pays the fresh-memory page faults).
 * Each rate is printed against the machine's measured read bandwidth (bench/machine_limits.c).
 * Usage: build/bench/loaders [repeats] */
#include "bench/machine_limits.h"
#include "common/progress.h"
#include "datasets/datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double time_images(const char *name, int repeats, size_t *train_count, double *first)
{
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        dataset d;
        dpkit_error err;
        double start = progress_now();
        if (dataset_load(name, &d, &err) != 0) {
            fprintf(stderr, "%s: %s\n", name, err.message);
            return -1;
        }
        double seconds = progress_now() - start;
        *train_count = d.train.count;
        dataset_free(&d);
        if (r == 0)
            *first = seconds;
        if (seconds < best)
            best = seconds;
    }
    return best;
}

static double time_text(int repeats, size_t *bytes, double *first)
{
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        dataset_text text;
        dataset_tokens tokens;
        dpkit_error err;
        double start = progress_now();
        if (datasets_text_load("sotu", &text, &err) != 0 ||
            datasets_text_tokenize(&text, DATASET_TEXT_UTF8, &tokens, &err) != 0) {
            fprintf(stderr, "sotu: %s\n", err.message);
            return -1;
        }
        double seconds = progress_now() - start;
        *bytes = text.byte_count;
        if (r == 0)
            *first = seconds;
        datasets_tokens_free(&tokens);
        datasets_text_free(&text);
        if (seconds < best)
            best = seconds;
    }
    return best;
}

int main(int argc, char **argv)
{
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    if (repeats < 1)
        repeats = 1;
    machine_limits limits;
    machine_limits_measure(&limits);
    printf("data directory %s, best of %d loads (train + test splits)\n", datasets_data_dir(),
           repeats);
    printf("%-14s %10s %12s %12s   %s\n", "dataset", "examples", "first (s)", "best (s)",
           "train pixels / best, of the read bandwidth");
    const char *names[] = {"mnist", "fashion-mnist", "cifar10"};
    const double pixels[] = {784, 784, 3072}; /* uint8 bytes per image */
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        size_t count = 0;
        double first = 0;
        double seconds = time_images(names[i], repeats, &count, &first);
        if (seconds < 0) {
            failed = 1;
            continue;
        }
        double gbs = (double)count * pixels[i] / 1e9 / seconds;
        printf("%-14s %10zu %12.3f %12.3f   %.2f GB/s, %.1f%%\n", names[i], count, first,
               seconds, gbs, 100 * gbs / limits.read_gbs);
    }
    size_t bytes = 0;
    double first = 0;
    double seconds = time_text(repeats, &bytes, &first);
    if (seconds >= 0)
        printf("%-14s %10zu %12.3f %12.3f   %.2f GB/s, %.1f%% (bytes; load + UTF-8 "
               "tokenize)\n", "sotu", bytes, first, seconds, (double)bytes / 1e9 / seconds,
               100 * (double)bytes / 1e9 / seconds / limits.read_gbs);
    else
        failed = 1;
    return failed;
}
