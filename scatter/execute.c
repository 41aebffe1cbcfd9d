/* The scattering traversal for one image and its batched, threaded driver (docs/maths.md 1.6-1.8
 * and 1.12). Hot loop: no allocation; FFTW's new-array execute functions on per-thread buffers. */
#include "scatter/plan_internal.h"

#include "common/progress.h"

#include <omp.h>
#include <string.h>

static void pad_image(const scatter_plan *p, const float *image, float *padded)
{
    for (size_t r = 0; r < p->M; r++) {
        const float *src = image + p->row_source[r] * p->width;
        float *dst = padded + r * p->N;
        for (size_t c = 0; c < p->N; c++)
            dst[c] = src[p->col_source[c]];
    }
}

/* Full m x n spectrum of a real signal from its m x (n/2+1) half: X[k,l] = conj X[-k,-l]. */
static void expand_half(const fftwf_complex *half, size_t m, size_t n, fftwf_complex *full)
{
    size_t h = n / 2 + 1;
    for (size_t k = 0; k < m; k++) {
        const fftwf_complex *row = half + k * h;
        const fftwf_complex *mirror = half + ((m - k) % m) * h;
        fftwf_complex *dst = full + k * n;
        memcpy(dst, row, h * sizeof *dst);
        for (size_t l = h; l < n; l++) {
            dst[l][0] = mirror[n - l][0];
            dst[l][1] = -mirror[n - l][1];
        }
    }
}

static double clock_if(const scatter_plan *p)
{
    return p->profile ? progress_now() : 0;
}

/* Executes plan on in -> out (a real-to-complex plan when real is set), adding the time to
 * ws->fftw_seconds when the plan profiles. */
static void run_fft(const scatter_plan *p, scatter_workspace *ws, fftwf_plan plan, int real,
                    void *in, fftwf_complex *out)
{
    double t = clock_if(p);
    if (real)
        fftwf_execute_dft_r2c(plan, in, out);
    else
        fftwf_execute_dft(plan, in, out);
    if (p->profile)
        ws->fftw_seconds += progress_now() - t;
}

/* Low-pass, subsample to level J, drop the one-sample border: one output channel from the full
 * spectrum v of a signal at level r. The spectrum is Hermitian and phi even, so only half of
 * the folded spectrum is formed and a c2r transform inverts it (docs/maths.md 1.7, 1.8). */
static void low_pass(const scatter_plan *p, scatter_workspace *ws, const fftwf_complex *v, int r,
                     float *out)
{
    const scatter_level *lv = &p->levels[r], *top = &p->levels[p->J];
    scatter_fold_product((const float *)v, p->phi_weight[r], lv->m, lv->n,
                         (size_t)1 << (p->J - r), top->n / 2 + 1, (float *)ws->low);
    double t = clock_if(p);
    fftwf_execute_dft_c2r(p->low_inverse, ws->low, ws->low_real);
    if (p->profile)
        ws->fftw_seconds += progress_now() - t;
    for (size_t a = 0; a < p->out_height; a++)
        memcpy(out + a * p->out_width, ws->low_real + (a + 1) * top->n + 1,
               p->out_width * sizeof *out);
}

/* U = |IFFT(Sub(spectrum .* psi))| at level `to`, into ws->u. */
static void wavelet_modulus(const scatter_plan *p, scatter_workspace *ws,
                            const fftwf_complex *spectrum, int from, int to, const float *weight)
{
    const scatter_level *src = &p->levels[from], *dst = &p->levels[to];
    scatter_fold_product((const float *)spectrum, weight, src->m, src->n,
                         (size_t)1 << (to - from), dst->n, (float *)ws->y);
    run_fft(p, ws, p->levels[to].inverse, 0, ws->y, ws->z);
    scatter_modulus(ws->z, dst->m * dst->n, ws->u);
}

/* The low-pass output channel of ws->u at level r. With v, also the full spectrum of ws->u into
 * v (order 2 needs it); without, in space where the plan chose it (docs/maths.md 1.12). */
static void modulus_low_pass(const scatter_plan *p, scatter_workspace *ws, int r,
                             fftwf_complex *v, float *out)
{
    if (!v && p->space_low[r].rows) {
        scatter_space_low_apply(&p->space_low[r], ws->u, ws->space_tmp, out);
        return;
    }
    if (!v)
        v = ws->v2;
    run_fft(p, ws, p->levels[r].forward, 1, ws->u, ws->half);
    expand_half(ws->half, p->levels[r].m, p->levels[r].n, v);
    low_pass(p, ws, v, r, out);
}

void scatter_transform_image(const scatter_plan *p, scatter_workspace *ws, const float *image,
                             float *out)
{
    double start = clock_if(p);
    int J = p->J, L = p->L;
    size_t plane = p->out_height * p->out_width;
    pad_image(p, image, ws->padded);
    run_fft(p, ws, p->levels[0].forward, 1, ws->padded, ws->half);
    expand_half(ws->half, p->M, p->N, ws->x);
    low_pass(p, ws, ws->x, 0, out);
    size_t order2 = 1 + (size_t)J * (size_t)L;
    for (int j1 = 0; j1 < J; j1++)
        for (int t1 = 0; t1 < L; t1++) {
            int n1 = j1 * L + t1;
            int deeper = p->max_order == 2 && j1 + 1 < J;
            wavelet_modulus(p, ws, ws->x, 0, j1, p->psi_weight[n1 * J]);
            modulus_low_pass(p, ws, j1, deeper ? ws->v1 : NULL, out + (size_t)(1 + n1) * plane);
            if (!deeper)
                continue;
            for (int j2 = j1 + 1; j2 < J; j2++)
                for (int t2 = 0; t2 < L; t2++) {
                    int n2 = j2 * L + t2;
                    wavelet_modulus(p, ws, ws->v1, j1, j2, p->psi_weight[n2 * J + j1]);
                    modulus_low_pass(p, ws, j2, NULL, out + order2 * plane);
                    order2++;
                }
        }
    if (p->profile)
        ws->total_seconds += progress_now() - start;
}

int scatter_execute(scatter_plan *p, size_t count, const float *images, float *out,
                    dpkit_error *err)
{
    if (!p || (count > 0 && (!images || !out)))
        return error_set(err, "scatter_execute: plan, images and out must not be NULL");
    size_t in_size = p->height * p->width;
    size_t out_size = p->channels * p->out_height * p->out_width;
    long long n = (long long)count;
    int threads = p->threads;
    if (n < threads)
        threads = n > 0 ? (int)n : 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long long i = 0; i < n; i++)
        scatter_transform_image(p, p->work[omp_get_thread_num()], images + (size_t)i * in_size,
                                out + (size_t)i * out_size);
    return 0;
}
