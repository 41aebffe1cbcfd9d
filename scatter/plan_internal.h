/* Private layout of a scattering plan, shared by scatter/plan.c (creation) and
 * scatter/execute.c (the per-image transform). */
#ifndef DPKIT_SCATTER_PLAN_INTERNAL_H
#define DPKIT_SCATTER_PLAN_INTERNAL_H

#include "scatter/scatter.h"

#include <fftw3.h>

/* One resolution r: the signal subsampled by 2^r, an (M >> r) x (N >> r) grid. */
typedef struct scatter_level {
    size_t m, n;
    fftwf_plan forward;  /* real m x n -> m x (n/2+1) half spectrum (levels 0..J-1) */
    fftwf_plan inverse;  /* complex m x n backward, y -> z (levels 0..J-1) */
} scatter_level;

/* The low-pass of level r's real signal U done in space (scatter/low_pass_space.c,
 * docs/maths.md 1.12): the out_rows x out_cols output is rows U cols, from an m x n signal. */
typedef struct scatter_space_low {
    size_t m, n, out_rows, out_cols;
    size_t padded_cols; /* out_cols rounded up to 8: whole vectors, zero columns */
    float *rows;        /* out_rows x m; NULL where the level low-passes spectra */
    float *cols;        /* n x padded_cols */
} scatter_space_low;

int scatter_space_low_create(const float *phi, size_t m, size_t n, size_t step, size_t out_rows,
                             size_t out_cols, scatter_space_low *low, dpkit_error *err);
void scatter_space_low_free(scatter_space_low *low);
/* padded_cols for out_cols. */
size_t scatter_space_low_width(size_t out_cols);
/* out (out_rows x out_cols) = the low-pass of u (m x n); tmp: (m + out_rows) x padded_cols. */
void scatter_space_low_apply(const scatter_space_low *low, const float *u, float *tmp,
                             float *out);

/* scatter/spectral_ops.c: out = Sub_k(in .* w) (docs/maths.md 1.6): in and w m x n complex
 * interleaved (w real, each value twice), out m/k rows of out_cols <= n/k complex values; and
 * u = |z| over count complex values. */
void scatter_fold_product(const float *in, const float *w, size_t m, size_t n, size_t k,
                          size_t out_cols, float *out);
void scatter_modulus(const fftwf_complex *z, size_t count, float *u);

/* Everything one thread touches while transforming one image; sized for level 0. */
typedef struct scatter_workspace {
    float *padded;        /* M x N padded image */
    fftwf_complex *half;  /* r2c output, M x (N/2+1) */
    fftwf_complex *x;     /* full spectrum of the padded image, M x N */
    fftwf_complex *v1;    /* full spectrum of an order-1 modulus */
    fftwf_complex *v2;    /* full spectrum of a modulus low-passed in the Fourier domain */
    fftwf_complex *y;     /* folded product */
    fftwf_complex *z;     /* its inverse transform (out of place: faster for small sizes) */
    float *u;             /* modulus */
    fftwf_complex *low;   /* low-pass half spectrum at level J */
    float *low_real;      /* its inverse, (M >> J) x (N >> J) */
    float *space_tmp;     /* (M + out_height) x padded_cols for scatter_space_low_apply */
    double fftw_seconds, total_seconds;
} scatter_workspace;

struct scatter_plan {
    int J, L, max_order;
    size_t height, width;  /* input image */
    size_t M, N;           /* padded */
    size_t channels;       /* K */
    size_t out_height, out_width;
    size_t *row_source, *col_source; /* reflect padding: source row/column of each padded one */
    scatter_filter_bank *bank;
    /* Multipliers with the scale of the subsampling average and of the inverse FFT folded in
     * (4^r / (M N), exact up to one rounding), each value stored twice so that a complex
     * interleaved spectrum is multiplied element by element: psi_weight[n * J + r], phi_weight[r]
     * over the level-r grid. */
    float **psi_weight;
    float **phi_weight;
    scatter_level *levels; /* J + 1 entries */
    fftwf_plan low_inverse; /* c2r at level J */
    scatter_space_low *space_low; /* J entries, used for signals whose spectrum has no other use */
    int threads;
    int profile;
    scatter_workspace **work; /* one per thread */
};

/* Transforms one image (height x width) into K x out_height x out_width floats. */
void scatter_transform_image(const scatter_plan *plan, scatter_workspace *ws, const float *image,
                             float *out);

#endif
