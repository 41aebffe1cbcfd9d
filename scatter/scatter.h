/* The 2D scattering transform (Kymatio 0.3.0 Scattering2D compatible, docs/maths.md section 1)
 * on FFTW: create a plan once for (J, L, max_order, height, width), execute it on batches. */
#ifndef DPKIT_SCATTER_SCATTER_H
#define DPKIT_SCATTER_SCATTER_H

#include "common/error.h"

#include <stddef.h>

/* ---- filter bank (Fourier domain, as Kymatio's filter_bank) ---- */

/* The Morlet/Gabor filter bank at a padded size: built in double precision, stored as float32
 * like Kymatio. psi index n = j*L + t (j-major); level r means cropped to (M/2^r) x (N/2^r). */
typedef struct scatter_filter_bank {
    int J, L;
    size_t M, N;     /* padded size, divisible by 2^J */
    float **phi;     /* phi[r], r = 0..J-1, (M>>r) x (N>>r) row-major */
    float ***psi;    /* psi[n][r], r = 0..psi_levels[n]-1 */
    int *psi_levels; /* min(j+1, max(J-1, 1)) for n = j*L + t */
} scatter_filter_bank;

/* M and N are the padded sizes (scatter_padded_size). */
int scatter_filter_bank_create(int J, int L, size_t M, size_t N, scatter_filter_bank **out,
                               dpkit_error *err);
void scatter_filter_bank_free(scatter_filter_bank *bank);

/* ---- geometry and channel order ---- */

/* Kymatio's padded size of one axis: 2^J * (size / 2^J + 2). */
size_t scatter_padded_size(size_t size, int J);
/* Number of output channels K: 1 + J L (+ L^2 J (J-1) / 2 for max_order 2). */
size_t scatter_channel_count(int J, int L, int max_order);
/* What channel k is: order 0, 1 or 2 and its (j1, t1, j2, t2); unused entries are -1. */
int scatter_channel_info(int J, int L, int max_order, size_t k, int *order, int *j1, int *t1,
                         int *j2, int *t2, dpkit_error *err);

/* ---- plan / execute ---- */

typedef enum {
    SCATTER_PLAN_ESTIMATE = 0, /* FFTW_ESTIMATE: instant planning */
    SCATTER_PLAN_MEASURE = 1,  /* FFTW_MEASURE: the default, a fraction of a second */
    SCATTER_PLAN_PATIENT = 2,  /* FFTW_PATIENT: slow planning, marginally faster transforms */
} scatter_planning;

typedef struct scatter_options {
    int threads;               /* OpenMP threads for execute; 0 = omp_get_max_threads() */
    scatter_planning planning; /* FFTW planner rigor */
    int profile;               /* 1: time the FFTW calls (see scatter_plan_profile) */
} scatter_options;

/* Defaults: threads 0, SCATTER_PLAN_MEASURE, no profiling. */
scatter_options scatter_default_options(void);

typedef struct scatter_plan scatter_plan;

/* Builds the filter bank, the per-resolution weights and all FFTW plans, and allocates one
 * work area per thread. J >= 1, L >= 1, max_order 1 or 2, 2^J <= height and 2^J <= width.
 * options may be NULL (defaults). Like FFTW planning, not thread-safe. */
int scatter_plan_create(int J, int L, int max_order, size_t height, size_t width,
                        const scatter_options *options, scatter_plan **out, dpkit_error *err);
void scatter_plan_free(scatter_plan *plan);

/* K, and the output size height / 2^J x width / 2^J. */
size_t scatter_plan_channels(const scatter_plan *plan);
size_t scatter_plan_output_height(const scatter_plan *plan);
size_t scatter_plan_output_width(const scatter_plan *plan);
/* The filter bank the plan was built from (owned by the plan). */
const scatter_filter_bank *scatter_plan_filters(const scatter_plan *plan);

/* Transforms `count` float32 images (count x height x width, row-major; for (N, C, H, W) input
 * pass count = N*C) into count x K x (height/2^J) x (width/2^J) floats, i.e. Kymatio's layout
 * (N, [C,] K, H', W'). Images are spread over the plan's threads; nothing is allocated. A plan
 * must not be executed by two callers at the same time. */
int scatter_execute(scatter_plan *plan, size_t count, const float *images, float *out,
                    dpkit_error *err);

/* With options.profile: wall seconds spent inside FFTW and in the whole per-image work, summed
 * over threads since the plan was created. */
void scatter_plan_profile(const scatter_plan *plan, double *fftw_seconds, double *total_seconds);

/* ---- gradient with respect to the input image (scatter/scatter_grad.c, docs/maths.md 1.11) ---- */

/* For attacks and certificates: the plan's transform of one image in double precision, keeping
 * what the gradient needs. Uses the plan's geometry and filters (the plan must outlive it).
 * Creation, like FFTW planning, is not thread-safe; one object serves one thread. */
typedef struct scatter_grad scatter_grad;
int scatter_grad_create(const scatter_plan *plan, scatter_grad **out, dpkit_error *err);
void scatter_grad_free(scatter_grad *grad);
/* out (K, H', W') = S(image) for one image (height x width), in double precision; keeps the
 * complex wavelet responses for scatter_grad_backward. */
void scatter_grad_forward(scatter_grad *grad, const float *image, double *out);
/* grad_image (height x width) = (dS/dimage)^T grad_out (K, H', W') at the last forward's image. */
void scatter_grad_backward(scatter_grad *grad, const float *grad_out, float *grad_image);

/* FFTW wisdom for the single-precision planner (optional; speeds up MEASURE/PATIENT planning). */
int scatter_wisdom_import(const char *path, dpkit_error *err);
int scatter_wisdom_export(const char *path, dpkit_error *err);

/* One transform of an HDF5 dataset file.h5:/dataset of float images (N, H, W) or (N, C, H, W)
 * into out_file:/out_dataset (N[, C], K, H', W') float32 (scatter/scatter_file.c). chunk: images
 * at a time (0: about 64 MiB); wisdom: FFTW wisdom file read if present and updated (NULL: none).
 * The caller makes sure the output is neither the input nor the wisdom file. */
typedef struct scatter_file_job {
    int J, L, max_order, threads, chunk;
    scatter_planning planning;
    const char *wisdom;
    char in_file[4096], in_dataset[1024], out_file[4096], out_dataset[1024];
} scatter_file_job;
int scatter_file(const scatter_file_job *job, dpkit_error *err);

#endif
