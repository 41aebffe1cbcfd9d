/* Benchmark of the scattering transform (J=2, L=8, order 2): images/s and total seconds for
 * the MNIST (60,000 x 28x28) and CIFAR-10 (50,000 x 3x32x32) training sets, and the share of
 * the time spent inside FFTW. The images are the real training sets when they have been fetched
 * (dpkit data fetch), random images of the same shapes otherwise (the cost does not depend on
 * pixel values). usage: bench/scattering [--threads N] [--fraction F] [--measure]
 * (F < 1 runs that share of the images; --measure plans with FFTW_MEASURE instead of PATIENT)
 * Each workload's input and output traffic is printed against the machine's measured read
 * bandwidth (bench/machine_limits.c); "result" lines are for scripts/bench-against. */
#include "bench/machine_limits.h"
#include "common/progress.h"
#include "common/rng.h"
#include "datasets/datasets.h"
#include "scatter/scatter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 2000

typedef struct workload {
    const char *name, *dataset;
    size_t images, channels, height, width;
} workload;

/* Every plane of the workload as float32 in [0, 1]: the dataset's training images when it is
 * present, otherwise random ones. Returns NULL when out of memory; *real says which. */
static float *load_planes(const workload *w, size_t planes, int *real)
{
    size_t plane = w->height * w->width;
    float *x = malloc(planes * plane * sizeof *x);
    if (!x)
        return NULL;
    dataset d;
    memset(&d, 0, sizeof d);
    dpkit_error err;
    *real = dataset_load(w->dataset, &d, &err) == 0 && d.train.dtype == DATASET_UINT8 &&
            d.train.count * d.train.channels >= planes && d.train.height == w->height &&
            d.train.width == w->width;
    if (*real) {
        const unsigned char *u = d.train.images;
        for (size_t i = 0; i < planes * plane; i++)
            x[i] = (float)u[i] / 255.0f;
    } else {
        rng r;
        rng_init_seed(&r, 1, 0);
        for (size_t i = 0; i < planes * plane; i++)
            x[i] = (float)rng_uniform(&r);
    }
    dataset_free(&d);
    return x;
}

/* Runs `count` planes of `input` through the plan in chunks; returns seconds. */
static double run(scatter_plan *plan, size_t count, size_t plane, const float *input,
                  float *output)
{
    dpkit_error err;
    double start = progress_now();
    for (size_t done = 0; done < count; done += CHUNK) {
        size_t n = count - done < CHUNK ? count - done : CHUNK;
        if (scatter_execute(plan, n, input + done * plane, output, &err)) {
            fprintf(stderr, "bench/scattering: %s\n", err.message);
            exit(1);
        }
    }
    return progress_now() - start;
}

static int bench(const workload *w, int threads, double fraction, scatter_planning planning,
                 const machine_limits *limits)
{
    dpkit_error err;
    size_t images = (size_t)((double)w->images * fraction);
    size_t planes = images * w->channels;
    scatter_options o = scatter_default_options();
    o.threads = threads;
    o.planning = planning;
    double t0 = progress_now();
    scatter_plan *plan, *profiled;
    if (scatter_plan_create(2, 8, 2, w->height, w->width, &o, &plan, &err))
        goto fail;
    o.profile = 1;
    if (scatter_plan_create(2, 8, 2, w->height, w->width, &o, &profiled, &err))
        goto fail;
    double plan_seconds = (progress_now() - t0) / 2;
    size_t in_size = w->height * w->width;
    size_t out_size = scatter_plan_channels(plan) * scatter_plan_output_height(plan) *
                      scatter_plan_output_width(plan);
    int real;
    float *input = load_planes(w, planes, &real);
    float *output = malloc(CHUNK * out_size * sizeof *output);
    if (!input || !output) {
        fprintf(stderr, "bench/scattering: out of memory\n");
        return 1;
    }
    run(plan, CHUNK < planes ? CHUNK : planes, in_size, input, output); /* warm-up */
    double seconds = run(plan, planes, in_size, input, output);
    /* The FFTW share comes from a separate, timed run over a tenth of the images, so the
     * clock reads do not slow the main measurement. */
    size_t profiled_planes = planes / 10 > CHUNK ? planes / 10 : CHUNK;
    run(profiled, profiled_planes, in_size, input, output);
    double fftw_seconds, work_seconds;
    scatter_plan_profile(profiled, &fftw_seconds, &work_seconds);
    printf("%-9s %7zu %s images (%zu planes of %zux%zu)  %8.3f s  %9.0f images/s  "
           "FFTW share %4.1f%%  plan %.2f s\n",
           w->name, images, real ? "real" : "random", planes, w->height, w->width, seconds,
           (double)images / seconds,
           100 * fftw_seconds / work_seconds, plan_seconds);
    double gbs = (double)planes * (double)(in_size + out_size) * sizeof(float) / 1e9 / seconds;
    printf("%-9s input + output %.2f GB/s: %.1f%% of the read bandwidth (the transform is "
           "compute-bound)\nresult %s.images_s %.1f\n",
           w->name, gbs, 100 * gbs / limits->read_gbs, w->dataset, (double)images / seconds);
    free(input);
    free(output);
    scatter_plan_free(plan);
    scatter_plan_free(profiled);
    return 0;
fail:
    fprintf(stderr, "bench/scattering: %s\n", err.message);
    return 1;
}

int main(int argc, char **argv)
{
    int threads = 2;
    double fraction = 1;
    scatter_planning planning = SCATTER_PLAN_PATIENT;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--fraction") == 0 && i + 1 < argc)
            fraction = atof(argv[++i]);
        else if (strcmp(argv[i], "--measure") == 0)
            planning = SCATTER_PLAN_MEASURE;
        else
            bad = 1;
    }
    if (bad || threads < 1 || fraction <= 0 || fraction > 1) {
        fprintf(stderr, "usage: bench/scattering [--threads N >= 1] [--fraction 0 < F <= 1] "
                        "[--measure]\n");
        return 2;
    }
    printf("scattering J=2 L=8 max_order=2, %d threads, FFTW_%s plans, the training sets' "
           "images%s\n",
           threads, planning == SCATTER_PLAN_PATIENT ? "PATIENT" : "MEASURE",
           fraction < 1 ? ", reduced count" : "");
    machine_limits limits;
    machine_limits_measure(&limits);
    const workload workloads[] = {
        {"MNIST", "mnist", 60000, 1, 28, 28},
        {"CIFAR-10", "cifar10", 50000, 3, 32, 32},
    };
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (bench(&workloads[i], threads, fraction, planning, &limits))
            return 1;
    return 0;
}
