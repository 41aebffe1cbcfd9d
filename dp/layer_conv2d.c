/* 2D convolution (square kernel, stride, zero padding, bias) by im2col + sgemm, one example per
 * OpenMP thread, and its per-example gradient norms: materialised or in the Gram form, chosen
 * per layer by the cost model below.
 *
 * Notation per example: input (Cin, H, W), output (Cout, Ho, Wo), T = Ho*Wo output positions,
 * K = Cin*k*k. im2col gives the columns a_t (K values, one per output position t), the output
 * gradient gives d_t (Cout values). The per-example gradient is
 *     dW_i = sum_t d_t a_t^T  (Cout x K),   db_i = sum_t d_t,
 * so ||g_i||^2 = sum_{t,s} (a_t.a_s + 1)(d_t.d_s)   (the Gram or "ghost" form; the +1 is the
 * bias's constant input).
 *
 * Cost model (multiply-adds per example; both share the im2col):
 *   materialise:  Cout*K*T            one GEMM D_i A_i^T, then Cout*K squares
 *   Gram form:    (K + Cout)*T(T+1)/2 two SYRKs (A_i^T A_i and D_i^T D_i), then T^2 products
 * The cheaper one is used (the layer-wise rule of "mixed ghost clipping", Bu et al. 2022).
 * Large outputs with few channels (early layers) materialise; small outputs with many channels
 * (late layers) take the Gram form. A materialised layer keeps its per-example gradients until
 * the clip factors are known, so its clipped sum is a weighted sum of them (2P per example,
 * P = parameters of the layer) and the batch gradient GEMM is not run again; a Gram-form layer
 * computes A_i = cols^T cols in the forward pass, where the columns are at hand (so the norms
 * need no second im2col), and gets its clipped sum from the batch gradient of the rescaled
 * output gradients (Cout*K*T, the GEMM a non-private step runs anyway), each example's term
 * weighted by its clip factor in that GEMM (alpha), so the output gradients are never rescaled
 * in a pass of their own. Either way a private step runs im2col twice per example, as a
 * non-private one does. */
#include "dp/layers_internal.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

typedef struct conv_dims {
    size_t cin, h, w, cout, ho, wo, k, s, p, T, K, in_size, out_size;
} conv_dims;

static conv_dims dims_of(const dp_layer *layer)
{
    conv_dims d;
    d.cin = layer->input.channels, d.h = layer->input.height, d.w = layer->input.width;
    d.cout = layer->units, d.ho = layer->output.height, d.wo = layer->output.width;
    d.k = layer->kernel, d.s = layer->stride, d.p = layer->padding;
    d.T = d.ho * d.wo;
    d.K = d.cin * d.k * d.k;
    d.in_size = d.cin * d.h * d.w;
    d.out_size = d.cout * d.T;
    return d;
}

int dp_conv2d_prefers_ghost(const dp_layer *layer)
{
    conv_dims d = dims_of(layer);
    double materialise = (double)d.cout * (double)d.K * (double)d.T;
    double gram = ((double)d.K + (double)d.cout) * (double)d.T * ((double)d.T + 1) / 2;
    return gram < materialise;
}

/* Floats of a zero-padded copy of one example's input: Cin x (H + 2p) x (W + 2p). */
static size_t padded_floats(const conv_dims *d)
{
    return d->cin * (d->h + 2 * d->p) * (d->w + 2 * d->p);
}

/* x (Cin, H, W) into the interior of xp (Cin, H + 2p, W + 2p), zero around it. */
static void pad_input(const conv_dims *d, const float *x, float *xp)
{
    size_t hp = d->h + 2 * d->p, wp = d->w + 2 * d->p;
    memset(xp, 0, padded_floats(d) * sizeof *xp);
    for (size_t c = 0; c < d->cin; c++)
        for (size_t i = 0; i < d->h; i++)
            memcpy(xp + (c * hp + i + d->p) * wp + d->p, x + (c * d->h + i) * d->w,
                   d->w * sizeof *xp);
}

/* One (c, ki, kj) row of the columns and its plane positions: row (ho, wo) =
 * plane[oh*s*wp + ow*s] (im2col), or, adjoint, plane[oh*s*wp + ow*s] += row (col2im); inlined
 * with s = 1, 2 or the layer's stride so that the copies vectorize. */
static inline void transfer_plane(float *restrict row, float *restrict plane, size_t ho,
                                  size_t wo, size_t wp, size_t s, int adjoint)
{
    for (size_t oh = 0; oh < ho; oh++)
        if (adjoint)
            for (size_t ow = 0; ow < wo; ow++)
                plane[oh * s * wp + ow * s] += row[oh * wo + ow];
        else
#pragma omp simd
            for (size_t ow = 0; ow < wo; ow++)
                row[oh * wo + ow] = plane[oh * s * wp + ow * s];
}

/* cols (K, T) and the padded layout xp (Cin, H + 2p, W + 2p): row (c, ki, kj), column
 * (oh, ow) of cols is xp[c, oh*s + ki, ow*s + kj]. adjoint = 0: cols from xp (im2col; xp is
 * only read); 1: xp += the columns at their positions (col2im). No bounds to test: the padding
 * is in xp. */
SIMD_CLONES
static void transfer_columns(const conv_dims *d, float *cols, float *xp, int adjoint)
{
    size_t hp = d->h + 2 * d->p, wp = d->w + 2 * d->p, s = d->s;
    for (size_t c = 0; c < d->cin; c++)
        for (size_t ki = 0; ki < d->k; ki++)
            for (size_t kj = 0; kj < d->k; kj++) {
                float *row = cols + ((c * d->k + ki) * d->k + kj) * d->T;
                float *plane = xp + (c * hp + ki) * wp + kj;
                if (s == 1)
                    transfer_plane(row, plane, d->ho, d->wo, wp, 1, adjoint);
                else if (s == 2)
                    transfer_plane(row, plane, d->ho, d->wo, wp, 2, adjoint);
                else
                    transfer_plane(row, plane, d->ho, d->wo, wp, s, adjoint);
            }
}

static void im2col(const conv_dims *d, const float *xp, float *cols)
{
    transfer_columns(d, cols, (float *)xp, 0); /* reads xp only */
}

/* The adjoint of im2col into the padded layout dxp, then dx (Cin, H, W) = its interior. */
static void col2im(const conv_dims *d, const float *cols, float *dxp, float *dx)
{
    size_t hp = d->h + 2 * d->p, wp = d->w + 2 * d->p;
    memset(dxp, 0, padded_floats(d) * sizeof *dxp);
    transfer_columns(d, (float *)cols, dxp, 1); /* reads cols only */
    for (size_t c = 0; c < d->cin; c++)
        for (size_t i = 0; i < d->h; i++)
            memcpy(dx + (c * d->h + i) * d->w, dxp + (c * hp + i + d->p) * wp + d->p,
                   d->w * sizeof *dx);
}

static size_t conv_param_count(const conv_dims *d)
{
    return d->cout * d->K + d->cout;
}

/* Floats after the columns: either the two Gram matrices (2*T*T) or a partial parameter
 * gradient (P), whichever is larger. */
static size_t middle_floats(const dp_layer *layer, const conv_dims *d)
{
    size_t gram = layer->ghost_norms ? 2 * d->T * d->T : 0, P = conv_param_count(d);
    return gram > P ? gram : P;
}

/* Per thread: the columns (K*T), the middle part above, then the padded input. */
static size_t conv_scratch_floats(const dp_layer *layer)
{
    conv_dims d = dims_of(layer);
    return d.K * d.T + middle_floats(layer, &d) + padded_floats(&d);
}

/* The padded-input part of a thread's scratch slice that starts with `cols`. */
static float *padded_part(const dp_layer *layer, const conv_dims *d, float *cols)
{
    return cols + d->K * d->T + middle_floats(layer, d);
}

/* cols (K, T) of example input x, through the padded copy xp (x itself when p = 0). */
static void columns_of(const conv_dims *d, const float *x, float *xp, float *cols)
{
    if (d->p) {
        pad_input(d, x, xp);
        x = xp;
    }
    im2col(d, x, cols);
}

/* Materialising: the per-example gradient (P); Gram form: A_i (T x T, upper triangle used). */
static size_t conv_kept_floats(const dp_layer *layer)
{
    conv_dims d = dims_of(layer);
    return layer->ghost_norms ? d.T * d.T : layer->param_count;
}

static void input_gram(const conv_dims *d, const float *cols, float *A)
{
    int T = (int)d->T;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, T, (int)d->K, 1.0f, cols, T, 0.0f, A, T);
}

static void conv_forward(const dp_layer *layer, const float *params, const float *in, float *out,
                         size_t n, const dp_scratch *scratch)
{
    conv_dims d = dims_of(layer);
    size_t per_thread = conv_scratch_floats(layer);
    const float *weight = params, *bias = params + d.cout * d.K;
    int blas = dp_blas_serial_begin();
#pragma omp parallel for schedule(dynamic) num_threads(scratch->threads)
    for (size_t i = 0; i < n; i++) {
        float *cols = dp_scratch_slice(scratch, per_thread);
        float *y = out + i * d.out_size;
        columns_of(&d, in + i * d.in_size, padded_part(layer, &d, cols), cols);
        for (size_t c = 0; c < d.cout; c++)
            for (size_t t = 0; t < d.T; t++)
                y[c * d.T + t] = bias[c];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d.cout, (int)d.T, (int)d.K,
                    1.0f, weight, (int)d.K, cols, (int)d.T, 1.0f, y, (int)d.T);
        if (scratch->training && layer->ghost_norms)
            input_gram(&d, cols, scratch->kept + i * d.T * d.T);
    }
    dp_blas_serial_end(blas);
}

static void conv_backward_input(const dp_layer *layer, const float *params, const float *in,
                                const float *out, const float *grad_out, float *grad_in,
                                size_t n, const dp_scratch *scratch)
{
    (void)in, (void)out;
    conv_dims d = dims_of(layer);
    size_t per_thread = conv_scratch_floats(layer);
    int blas = dp_blas_serial_begin();
#pragma omp parallel for schedule(dynamic) num_threads(scratch->threads)
    for (size_t i = 0; i < n; i++) {
        float *cols = dp_scratch_slice(scratch, per_thread);
        /* dcols (K, T) = W^T (K, Cout) D_i (Cout, T) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d.K, (int)d.T, (int)d.cout,
                    1.0f, params, (int)d.K, grad_out + i * d.out_size, (int)d.T, 0.0f, cols,
                    (int)d.T);
        col2im(&d, cols, padded_part(layer, &d, cols), grad_in + i * d.in_size);
    }
    dp_blas_serial_end(blas);
}

/* ||g_i||^2 = sum_{t,s} (A_ts + 1) B_ts with A = cols^T cols (given), B = D^T D (upper
 * triangles). */
static double gram_squared_norm(const conv_dims *d, const float *A, const float *delta, float *B)
{
    int T = (int)d->T;
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, T, (int)d->cout, 1.0f, delta, T, 0.0f, B,
                T);
    double diagonal = 0, off = 0;
    for (size_t t = 0; t < d->T; t++) {
        const float *a = A + t * d->T, *b = B + t * d->T;
        diagonal += ((double)a[t] + 1.0) * b[t];
        for (size_t s = t + 1; s < d->T; s++)
            off += ((double)a[s] + 1.0) * b[s];
    }
    return diagonal + 2.0 * off;
}

/* g_i = [D_i A_i^T, D_i 1] written to g (P floats); returns its squared norm. */
static double materialise(const conv_dims *d, const float *cols, const float *delta, float *g)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->cout, (int)d->K, (int)d->T,
                1.0f, delta, (int)d->T, cols, (int)d->T, 0.0f, g, (int)d->K);
    float *bias = g + d->cout * d->K;
    for (size_t c = 0; c < d->cout; c++) {
        double s = 0;
        for (size_t t = 0; t < d->T; t++)
            s += delta[c * d->T + t];
        bias[c] = (float)s;
    }
    double squares = 0;
    for (size_t j = 0; j < conv_param_count(d); j++)
        squares += (double)g[j] * g[j];
    return squares;
}

static void conv_add_squared_norms(const dp_layer *layer, const float *in, const float *grad_out,
                                   size_t n, double *squared_norms, const dp_scratch *scratch)
{
    conv_dims d = dims_of(layer);
    size_t per_thread = conv_scratch_floats(layer), P = conv_param_count(&d);
    int blas = dp_blas_serial_begin();
#pragma omp parallel for schedule(dynamic) num_threads(scratch->threads)
    for (size_t i = 0; i < n; i++) {
        float *cols = dp_scratch_slice(scratch, per_thread);
        const float *delta = grad_out + i * d.out_size;
        if (layer->ghost_norms) {
            float *A = cols + d.K * d.T, *B = A + d.T * d.T;
            if (scratch->kept_valid) {
                A = scratch->kept + i * d.T * d.T; /* from the forward pass */
            } else {
                columns_of(&d, in + i * d.in_size, padded_part(layer, &d, cols), cols);
                input_gram(&d, cols, A);
            }
            squared_norms[i] += gram_squared_norm(&d, A, delta, B);
        } else {
            columns_of(&d, in + i * d.in_size, padded_part(layer, &d, cols), cols);
            squared_norms[i] += materialise(&d, cols, delta, scratch->kept + i * P);
        }
    }
    dp_blas_serial_end(blas);
}

static void conv_add_param_gradient(const dp_layer *layer, const float *in, const float *grad_out,
                                    size_t n, float *grad, const dp_scratch *scratch)
{
    conv_dims d = dims_of(layer);
    size_t P = conv_param_count(&d);
    if (!layer->ghost_norms && scratch->kept_valid) {
        /* grad += kept^T f: the clipped sum of the kept per-example gradients */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, (int)P, 1.0f, scratch->kept, (int)P,
                    scratch->factors, 1, 1.0f, grad, 1);
        return;
    }
    size_t per_thread = conv_scratch_floats(layer);
    size_t used = 1;
    int blas = dp_blas_serial_begin();
#pragma omp parallel num_threads(scratch->threads)
    {
        float *cols = dp_scratch_slice(scratch, per_thread);
        float *partial = cols + d.K * d.T;
        memset(partial, 0, P * sizeof *partial);
#pragma omp single
        used = (size_t)omp_get_num_threads();
#pragma omp for schedule(dynamic)
        for (size_t i = 0; i < n; i++) {
            const float *delta = grad_out + i * d.out_size;
            float f = scratch->kept_valid && scratch->factors ? scratch->factors[i] : 1.0f;
            columns_of(&d, in + i * d.in_size, padded_part(layer, &d, cols), cols);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d.cout, (int)d.K, (int)d.T,
                        f, delta, (int)d.T, cols, (int)d.T, 1.0f, partial, (int)d.K);
            float *bias = partial + d.cout * d.K;
            for (size_t c = 0; c < d.cout; c++) {
                float s = 0;
                for (size_t t = 0; t < d.T; t++)
                    s += delta[c * d.T + t];
                bias[c] += f * s;
            }
        }
    }
    dp_blas_serial_end(blas);
    for (size_t t = 0; t < used; t++) {
        const float *partial = scratch->data + t * per_thread + d.K * d.T;
        for (size_t j = 0; j < P; j++)
            grad[j] += partial[j];
    }
}

const dp_layer_ops dp_layer_conv2d_ops = {
    .name = "conv2d",
    .forward = conv_forward,
    .backward_input = conv_backward_input,
    .add_squared_norms = conv_add_squared_norms,
    .add_param_gradient = conv_add_param_gradient,
    .scratch_floats = conv_scratch_floats,
    .kept_floats = conv_kept_floats,
    .applies_factors = 1,
};
