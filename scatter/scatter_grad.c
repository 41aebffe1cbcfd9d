/* The gradient of the scattering transform with respect to its input image (docs/maths.md 1.11):
 * a double-precision forward that keeps every complex wavelet response, then the adjoint of each
 * step in reverse order. Geometry and filters come from a scattering plan, so the forward is the
 * plan's transform (to float32 rounding). For attacks and certificates, not for feature caches. */
/* complex.h before fftw3.h makes fftw_complex the C99 double complex (FFTW's documented
 * interoperability); the layout is the same as double[2]. */
#include <complex.h>

#include "scatter/plan_internal.h"
#include "common/memory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct scatter_grad {
    const scatter_plan *plan;
    int J, L, order2;         /* order2: 1 when second-order channels are computed */
    size_t wavelets;          /* J L */
    fftw_plan *fwd, *bwd;     /* complex in place, level r = 0..J */
    double **phi, **psi;      /* phi[r], psi[n * J + r]: filter * 4^r / (M N), level r grid */
    fftw_complex *x;          /* spectrum of the padded image */
    fftw_complex **y1;        /* y1[n1]: complex order-1 response at level j1 */
    fftw_complex **y2;        /* y2[n1 * JL + n2]: complex order-2 response at level j2 */
    fftw_complex *a, *b, *c;  /* level-0 sized work areas */
    fftw_complex *g1;         /* gradient of an order-1 modulus' spectrum */
};

static size_t level_size(const scatter_plan *p, int r)
{
    return p->levels[r].m * p->levels[r].n;
}

/* out = Sub_k(in .* w): the sum of the k x k aliases (docs/maths.md 1.6), in at level `from`
 * (m x n), out at m/k x n/k. */
static void fold(const fftw_complex *in, const double *w, size_t m, size_t n, size_t k,
                 fftw_complex *out)
{
    size_t mo = m / k, no = n / k;
    memset(out, 0, mo * no * sizeof *out);
    for (size_t r = 0; r < m; r++) {
        fftw_complex *o = out + (r % mo) * no;
        for (size_t b = 0; b < n; b += no)
            for (size_t c = 0; c < no; c++)
                o[c] += in[r * n + b + c] * w[r * n + b + c];
    }
}

/* The adjoint of fold: acc[r, c] += w[r, c] g[r mod m/k, c mod n/k]. */
static void fold_adjoint(const fftw_complex *g, const double *w, size_t m, size_t n, size_t k,
                         fftw_complex *acc)
{
    size_t mo = m / k, no = n / k;
    for (size_t r = 0; r < m; r++) {
        const fftw_complex *row = g + (r % mo) * no;
        for (size_t b = 0; b < n; b += no)
            for (size_t c = 0; c < no; c++)
                acc[r * n + b + c] += w[r * n + b + c] * row[c];
    }
}

/* |z| without hypot's guard against overflow (a quarter of the time; the responses here are
 * far from 1e154). */
static double magnitude(fftw_complex z)
{
    double a = creal(z), b = cimag(z);
    return sqrt(a * a + b * b);
}

static void modulus(const fftw_complex *z, size_t count, fftw_complex *u)
{
    for (size_t i = 0; i < count; i++)
        u[i] = magnitude(z[i]);
}

/* Low-pass of the spectrum v at level r into one output channel (docs/maths.md 1.7, 1.8). */
static void low_pass(scatter_grad *g, const fftw_complex *v, int r, double *out)
{
    const scatter_plan *p = g->plan;
    const scatter_level *lv = &p->levels[r], *top = &p->levels[g->J];
    fold(v, g->phi[r], lv->m, lv->n, (size_t)1 << (g->J - r), g->c);
    fftw_execute_dft(g->bwd[g->J], g->c, g->c);
    for (size_t a = 0; a < p->out_height; a++)
        for (size_t b = 0; b < p->out_width; b++)
            out[a * p->out_width + b] = creal(g->c[(a + 1) * top->n + b + 1]);
}

/* acc (level r spectrum) += the gradient of low_pass's output channel given its gradient go. */
static void low_pass_adjoint(scatter_grad *g, const float *go, int r, fftw_complex *acc)
{
    const scatter_plan *p = g->plan;
    const scatter_level *lv = &p->levels[r], *top = &p->levels[g->J];
    memset(g->c, 0, level_size(p, g->J) * sizeof *g->c);
    for (size_t a = 0; a < p->out_height; a++)
        for (size_t b = 0; b < p->out_width; b++)
            g->c[(a + 1) * top->n + b + 1] = go[a * p->out_width + b];
    fftw_execute_dft(g->fwd[g->J], g->c, g->c); /* the adjoint of the unnormalised inverse */
    fold_adjoint(g->c, g->phi[r], lv->m, lv->n, (size_t)1 << (g->J - r), acc);
}

/* y = IFFT(Sub(v .* w)) at level `to` from a spectrum at level `from`; v_out = FFT(|y|). */
static void wavelet(scatter_grad *g, const fftw_complex *v, int from, int to, const double *w,
                    fftw_complex *y, fftw_complex *v_out)
{
    const scatter_plan *p = g->plan;
    fold(v, w, p->levels[from].m, p->levels[from].n, (size_t)1 << (to - from), y);
    fftw_execute_dft(g->bwd[to], y, y);
    modulus(y, level_size(p, to), v_out);
    fftw_execute_dft(g->fwd[to], v_out, v_out);
}

/* acc (level `from` spectrum) += the gradient through wavelet() given gv, the gradient of its
 * v_out (overwritten). The modulus' gradient is y / |y| (0 where y = 0). */
static void wavelet_adjoint(scatter_grad *g, fftw_complex *gv, const fftw_complex *y, int from,
                            int to, const double *w, fftw_complex *acc)
{
    const scatter_plan *p = g->plan;
    size_t count = level_size(p, to);
    fftw_execute_dft(g->bwd[to], gv, gv); /* the adjoint of the forward DFT of a real signal */
    for (size_t i = 0; i < count; i++) {
        double m = magnitude(y[i]);
        gv[i] = m > 0 ? creal(gv[i]) * y[i] / m : 0;
    }
    fftw_execute_dft(g->fwd[to], gv, gv); /* the adjoint of the unnormalised inverse */
    fold_adjoint(gv, w, p->levels[from].m, p->levels[from].n, (size_t)1 << (to - from), acc);
}

void scatter_grad_free(scatter_grad *g)
{
    if (!g)
        return;
    for (int r = 0; g->fwd && r <= g->J; r++) {
        if (g->fwd[r])
            fftw_destroy_plan(g->fwd[r]);
        if (g->bwd[r])
            fftw_destroy_plan(g->bwd[r]);
    }
    for (int r = 0; g->phi && r < g->J; r++)
        fftw_free(g->phi[r]);
    for (size_t i = 0; g->psi && i < g->wavelets * (size_t)g->J; i++)
        fftw_free(g->psi[i]);
    for (size_t i = 0; g->y1 && i < g->wavelets; i++)
        fftw_free(g->y1[i]);
    for (size_t i = 0; g->y2 && i < g->wavelets * g->wavelets; i++)
        fftw_free(g->y2[i]);
    MEMORY_FREE_ALL(g->fwd, g->bwd, g->phi, g->psi, g->y1, g->y2);
    MEMORY_RELEASE_ALL(fftw_free, g->x, g->a, g->b, g->c, g->g1);
    free(g);
}

static double *weight(const float *filter, size_t count, double scale)
{
    double *w = fftw_malloc(count * sizeof *w);
    for (size_t i = 0; w && i < count; i++)
        w[i] = (double)filter[i] * scale;
    return w;
}

static int create_parts(scatter_grad *g)
{
    const scatter_plan *p = g->plan;
    int J = g->J;
    size_t full = p->M * p->N, JL = g->wavelets;
    g->fwd = calloc((size_t)J + 1, sizeof *g->fwd);
    g->bwd = calloc((size_t)J + 1, sizeof *g->bwd);
    g->phi = calloc((size_t)J, sizeof *g->phi);
    g->psi = calloc(JL * (size_t)J, sizeof *g->psi);
    g->y1 = calloc(JL, sizeof *g->y1);
    g->y2 = calloc(JL * JL, sizeof *g->y2);
    g->x = fftw_malloc(full * sizeof *g->x);
    g->a = fftw_malloc(full * sizeof *g->a);
    g->b = fftw_malloc(full * sizeof *g->b);
    g->c = fftw_malloc(full * sizeof *g->c);
    g->g1 = fftw_malloc(full * sizeof *g->g1);
    if (!g->fwd || !g->bwd || !g->phi || !g->psi || !g->y1 || !g->y2 || !g->x || !g->a ||
        !g->b || !g->c || !g->g1)
        return -1;
    for (int r = 0; r <= J; r++) {
        int m = (int)p->levels[r].m, n = (int)p->levels[r].n;
        g->fwd[r] = fftw_plan_dft_2d(m, n, g->a, g->a, FFTW_FORWARD, FFTW_ESTIMATE);
        g->bwd[r] = fftw_plan_dft_2d(m, n, g->a, g->a, FFTW_BACKWARD, FFTW_ESTIMATE);
        if (!g->fwd[r] || !g->bwd[r])
            return -1;
    }
    const scatter_filter_bank *bank = p->bank;
    double base = 1.0 / ((double)p->M * (double)p->N);
    for (int r = 0; r < J; r++) {
        double scale = base * ldexp(1, 2 * r);
        if (!(g->phi[r] = weight(bank->phi[r], level_size(p, r), scale)))
            return -1;
        for (size_t n = 0; n < JL; n++) {
            int j = (int)n / g->L;
            if (r > 0 && (!g->order2 || r >= j))
                continue;
            if (!(g->psi[n * (size_t)J + (size_t)r] = weight(bank->psi[n][r], level_size(p, r),
                                                              scale)))
                return -1;
            if (r == 0 && !(g->y1[n] = fftw_malloc(level_size(p, j) * sizeof **g->y1)))
                return -1;
        }
    }
    for (size_t n1 = 0; g->order2 && n1 < JL; n1++)
        for (size_t n2 = 0; n2 < JL; n2++)
            if ((int)n2 / g->L > (int)n1 / g->L &&
                !(g->y2[n1 * JL + n2] = fftw_malloc(level_size(p, (int)n2 / g->L) *
                                                    sizeof **g->y2)))
                return -1;
    return 0;
}

int scatter_grad_create(const scatter_plan *plan, scatter_grad **out, dpkit_error *err)
{
    *out = NULL;
    if (!plan)
        return error_set(err, "scatter_grad_create: plan must not be NULL");
    scatter_grad *g = calloc(1, sizeof *g);
    if (!g)
        return error_set(err, "scatter gradient: out of memory");
    g->plan = plan;
    g->J = plan->J;
    g->L = plan->L;
    g->order2 = plan->max_order >= 2;
    g->wavelets = (size_t)plan->J * (size_t)plan->L;
    if (create_parts(g)) {
        scatter_grad_free(g);
        return error_set(err, "scatter gradient: out of memory or no FFTW plan for %zu x %zu",
                         plan->M, plan->N);
    }
    *out = g;
    return 0;
}

void scatter_grad_forward(scatter_grad *g, const float *image, double *out)
{
    const scatter_plan *p = g->plan;
    size_t plane = p->out_height * p->out_width, JL = g->wavelets, k = 1 + JL;
    for (size_t r = 0; r < p->M; r++)
        for (size_t c = 0; c < p->N; c++)
            g->x[r * p->N + c] = image[p->row_source[r] * p->width + p->col_source[c]];
    fftw_execute_dft(g->fwd[0], g->x, g->x);
    low_pass(g, g->x, 0, out);
    for (size_t n1 = 0; n1 < JL; n1++) {
        int j1 = (int)n1 / g->L;
        wavelet(g, g->x, 0, j1, g->psi[n1 * (size_t)g->J], g->y1[n1], g->a);
        low_pass(g, g->a, j1, out + (1 + n1) * plane);
        for (size_t n2 = 0; g->order2 && n2 < JL; n2++) {
            int j2 = (int)n2 / g->L;
            if (j2 <= j1)
                continue;
            wavelet(g, g->a, j1, j2, g->psi[n2 * (size_t)g->J + (size_t)j1], g->y2[n1 * JL + n2],
                    g->b);
            low_pass(g, g->b, j2, out + k++ * plane);
        }
    }
}

void scatter_grad_backward(scatter_grad *g, const float *grad_out, float *grad_image)
{
    const scatter_plan *p = g->plan;
    size_t plane = p->out_height * p->out_width, JL = g->wavelets, k = 1 + JL;
    fftw_complex *gx = g->x; /* the forward's spectrum is not needed any more */
    memset(gx, 0, p->M * p->N * sizeof *gx);
    low_pass_adjoint(g, grad_out, 0, gx);
    for (size_t n1 = 0; n1 < JL; n1++) {
        int j1 = (int)n1 / g->L;
        memset(g->g1, 0, level_size(p, j1) * sizeof *g->g1);
        low_pass_adjoint(g, grad_out + (1 + n1) * plane, j1, g->g1);
        for (size_t n2 = 0; g->order2 && n2 < JL; n2++) {
            int j2 = (int)n2 / g->L;
            if (j2 <= j1)
                continue;
            memset(g->b, 0, level_size(p, j2) * sizeof *g->b);
            low_pass_adjoint(g, grad_out + k++ * plane, j2, g->b);
            wavelet_adjoint(g, g->b, g->y2[n1 * JL + n2], j1, j2,
                            g->psi[n2 * (size_t)g->J + (size_t)j1], g->g1);
        }
        wavelet_adjoint(g, g->g1, g->y1[n1], 0, j1, g->psi[n1 * (size_t)g->J], gx);
    }
    fftw_execute_dft(g->bwd[0], gx, gx); /* the adjoint of the DFT of the real padded image */
    memset(grad_image, 0, p->height * p->width * sizeof *grad_image);
    for (size_t r = 0; r < p->M; r++)
        for (size_t c = 0; c < p->N; c++)
            grad_image[p->row_source[r] * p->width + p->col_source[c]] +=
                (float)creal(gx[r * p->N + c]);
}
