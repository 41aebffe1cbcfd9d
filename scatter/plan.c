/* Scattering plans: validation, reflect-padding maps, per-resolution filter weights, FFTW plans
 * and per-thread work areas, all made once (docs/maths.md 1.1, 1.2, 1.5). */
#include "scatter/plan_internal.h"

#include "common/durable.h"
#include "common/memory.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

scatter_options scatter_default_options(void)
{
    scatter_options o = {.threads = 0, .planning = SCATTER_PLAN_MEASURE, .profile = 0};
    return o;
}

/* NumPy 'reflect' padding (mirror without repeating the edge), periodic in 2(size-1), which is
 * also right when a side's padding reaches the image size (docs/maths.md 1.2). */
static void reflect_map(size_t size, size_t padded, size_t *source)
{
    size_t before = (padded - size) / 2; /* the odd pixel goes after */
    long long period = 2 * ((long long)size - 1);
    for (size_t p = 0; p < padded; p++) {
        if (size == 1) {
            source[p] = 0;
            continue;
        }
        long long s = ((long long)p - (long long)before) % period;
        if (s < 0)
            s += period;
        source[p] = (size_t)(s <= (long long)size - 1 ? s : period - s);
    }
}

static float *weights(const float *filter, size_t count, double scale)
{
    float *w = fftwf_malloc(2 * count * sizeof *w);
    if (!w)
        return NULL;
    for (size_t i = 0; i < count; i++)
        w[2 * i] = w[2 * i + 1] = (float)(filter[i] * scale);
    return w;
}

static int make_weights(scatter_plan *p, dpkit_error *err)
{
    int J = p->J, L = p->L;
    p->psi_weight = calloc((size_t)(J * L * J), sizeof *p->psi_weight);
    p->phi_weight = calloc((size_t)J, sizeof *p->phi_weight);
    if (!p->psi_weight || !p->phi_weight)
        return error_set(err, "scatter plan: out of memory");
    double base = 1.0 / ((double)p->M * (double)p->N);
    for (int r = 0; r < J; r++) {
        size_t count = p->levels[r].m * p->levels[r].n;
        double scale = base * ldexp(1, 2 * r);
        p->phi_weight[r] = weights(p->bank->phi[r], count, scale);
        if (!p->phi_weight[r])
            return error_set(err, "scatter plan: out of memory");
        /* Order 1 uses psi^(0); order 2 uses psi_{j2}^(j1) with j1 < j2 (docs/maths.md 1.5). */
        for (int n = 0; n < J * L; n++) {
            int j = n / L;
            if (r > 0 && (p->max_order < 2 || r >= j))
                continue;
            p->psi_weight[n * J + r] = weights(p->bank->psi[n][r], count, scale);
            if (!p->psi_weight[n * J + r])
                return error_set(err, "scatter plan: out of memory");
        }
    }
    return 0;
}

/* The spatial low-pass (docs/maths.md 1.12) costs about (n + out_rows) padded_cols
 * multiply-adds per row against about n log2(m n) for the forward FFT, expansion and fold it
 * replaces; it is used where it is clearly cheaper, which is the small outputs of
 * small images (for large images the FFT wins). */
static int make_space_lows(scatter_plan *p, dpkit_error *err)
{
    p->space_low = calloc((size_t)p->J, sizeof *p->space_low);
    if (!p->space_low)
        return error_set(err, "scatter plan: out of memory");
    size_t padded_cols = scatter_space_low_width(p->out_width);
    for (int r = 0; r < p->J; r++) {
        size_t m = p->levels[r].m, n = p->levels[r].n;
        if ((double)((n + p->out_height) * padded_cols) > 2 * (double)n * log2((double)(m * n)))
            continue;
        if (scatter_space_low_create(p->bank->phi[r], m, n, (size_t)1 << (p->J - r),
                                     p->out_height, p->out_width, &p->space_low[r], err))
            return -1;
    }
    return 0;
}

static void workspace_free(scatter_workspace *ws)
{
    if (!ws)
        return;
    MEMORY_RELEASE_ALL(fftwf_free, ws->padded, ws->half, ws->x, ws->v1, ws->v2, ws->y, ws->z,
                       ws->u, ws->low, ws->low_real, ws->space_tmp);
    free(ws);
}

static scatter_workspace *workspace_create(const scatter_plan *p)
{
    scatter_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    size_t full = p->M * p->N, half = p->M * (p->N / 2 + 1);
    const scatter_level *top = &p->levels[p->J];
    ws->padded = fftwf_malloc(full * sizeof(float));
    ws->half = fftwf_malloc(half * sizeof(fftwf_complex));
    ws->x = fftwf_malloc(full * sizeof(fftwf_complex));
    ws->v1 = fftwf_malloc(full * sizeof(fftwf_complex));
    ws->v2 = fftwf_malloc(full * sizeof(fftwf_complex));
    ws->y = fftwf_malloc(full * sizeof(fftwf_complex));
    ws->z = fftwf_malloc(full * sizeof(fftwf_complex));
    ws->u = fftwf_malloc(full * sizeof(float));
    ws->low = fftwf_malloc(top->m * (top->n / 2 + 1) * sizeof(fftwf_complex));
    ws->low_real = fftwf_malloc(top->m * top->n * sizeof(float));
    ws->space_tmp = fftwf_malloc((p->M + p->out_height) * scatter_space_low_width(p->out_width) *
                                 sizeof(float));
    if (!ws->padded || !ws->half || !ws->x || !ws->v1 || !ws->v2 || !ws->y || !ws->z ||
        !ws->u || !ws->low || !ws->low_real || !ws->space_tmp) {
        workspace_free(ws);
        return NULL;
    }
    return ws;
}

static unsigned planner_flags(scatter_planning planning)
{
    switch (planning) {
    case SCATTER_PLAN_ESTIMATE: return FFTW_ESTIMATE;
    case SCATTER_PLAN_PATIENT: return FFTW_PATIENT;
    default: return FFTW_MEASURE;
    }
}

/* Plans are made on the first work area; execution uses FFTW's new-array functions on the
 * others, which have the same (fftwf_malloc) alignment. */
static int make_fftw_plans(scatter_plan *p, unsigned flags, dpkit_error *err)
{
    scatter_workspace *ws = p->work[0];
    for (int r = 0; r < p->J; r++) {
        scatter_level *lv = &p->levels[r];
        lv->forward = fftwf_plan_dft_r2c_2d((int)lv->m, (int)lv->n, ws->u, ws->half, flags);
        /* The folded product is scratch: letting FFTW overwrite it is faster at 40 x 40. */
        lv->inverse = fftwf_plan_dft_2d((int)lv->m, (int)lv->n, ws->y, ws->z, FFTW_BACKWARD,
                                        flags | FFTW_DESTROY_INPUT);
        if (!lv->forward || !lv->inverse)
            return error_set(err, "scatter plan: FFTW could not plan %zu x %zu transforms", lv->m,
                             lv->n);
    }
    scatter_level *top = &p->levels[p->J];
    p->low_inverse = fftwf_plan_dft_c2r_2d((int)top->m, (int)top->n, ws->low, ws->low_real, flags);
    if (!p->low_inverse)
        return error_set(err, "scatter plan: FFTW could not plan a %zu x %zu inverse", top->m,
                         top->n);
    return 0;
}

static int build(scatter_plan *p, const scatter_options *o, dpkit_error *err)
{
    p->row_source = malloc(p->M * sizeof *p->row_source);
    p->col_source = malloc(p->N * sizeof *p->col_source);
    p->levels = calloc((size_t)p->J + 1, sizeof *p->levels);
    if (!p->row_source || !p->col_source || !p->levels)
        return error_set(err, "scatter plan: out of memory");
    reflect_map(p->height, p->M, p->row_source);
    reflect_map(p->width, p->N, p->col_source);
    for (int r = 0; r <= p->J; r++) {
        p->levels[r].m = p->M >> r;
        p->levels[r].n = p->N >> r;
    }
    if (scatter_filter_bank_create(p->J, p->L, p->M, p->N, &p->bank, err))
        return error_prefix(err, "scatter plan");
    if (make_weights(p, err) || make_space_lows(p, err))
        return -1;
    p->work = calloc((size_t)p->threads, sizeof *p->work);
    if (!p->work)
        return error_set(err, "scatter plan: out of memory");
    for (int t = 0; t < p->threads; t++) {
        p->work[t] = workspace_create(p);
        if (!p->work[t])
            return error_set(err, "scatter plan: out of memory for the work areas of %d threads",
                             p->threads);
    }
    return make_fftw_plans(p, planner_flags(o->planning), err);
}

int scatter_plan_create(int J, int L, int max_order, size_t height, size_t width,
                        const scatter_options *options, scatter_plan **out, dpkit_error *err)
{
    *out = NULL;
    scatter_options o = options ? *options : scatter_default_options();
    if (J < 1 || J > 16)
        return error_set(err, "scatter: J = %d, expected an integer 1 <= J <= 16", J);
    if (L < 1 || L > 256)
        return error_set(err, "scatter: L = %d, expected an integer 1 <= L <= 256", L);
    if (max_order != 1 && max_order != 2)
        return error_set(err, "scatter: max_order = %d, expected 1 or 2", max_order);
    size_t step = (size_t)1 << J;
    if (height < step || width < step)
        return error_set(err,
                         "scatter: image size %zu x %zu is too small for J = %d: both sides must "
                         "be at least 2^J = %zu",
                         height, width, J, step);
    if (height > 32768 || width > 32768 || height * width > ((size_t)1 << 26))
        return error_set(err, "scatter: image size %zu x %zu is too large (at most 32768 per "
                         "side and 2^26 pixels)", height, width);
    if (o.threads < 0 || o.threads > 1024)
        return error_set(err, "scatter: threads = %d, expected 0 (all) to 1024", o.threads);
    if (o.planning < SCATTER_PLAN_ESTIMATE || o.planning > SCATTER_PLAN_PATIENT)
        return error_set(err, "scatter: unknown planning rigor %d", (int)o.planning);
    scatter_plan *p = calloc(1, sizeof *p);
    if (!p)
        return error_set(err, "scatter: out of memory");
    *p = (scatter_plan){.J = J, .L = L, .max_order = max_order, .height = height, .width = width,
                        .M = scatter_padded_size(height, J), .N = scatter_padded_size(width, J),
                        .channels = scatter_channel_count(J, L, max_order),
                        .out_height = height >> J, .out_width = width >> J,
                        .threads = o.threads > 0 ? o.threads : omp_get_max_threads(),
                        .profile = o.profile != 0};
    if (build(p, &o, err)) {
        scatter_plan_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void scatter_plan_free(scatter_plan *p)
{
    if (!p)
        return;
    if (p->levels) {
        for (int r = 0; r < p->J; r++) {
            if (p->levels[r].forward)
                fftwf_destroy_plan(p->levels[r].forward);
            if (p->levels[r].inverse)
                fftwf_destroy_plan(p->levels[r].inverse);
        }
    }
    if (p->low_inverse)
        fftwf_destroy_plan(p->low_inverse);
    if (p->work)
        for (int t = 0; t < p->threads; t++)
            workspace_free(p->work[t]);
    if (p->psi_weight)
        for (int i = 0; i < p->J * p->L * p->J; i++)
            fftwf_free(p->psi_weight[i]);
    if (p->phi_weight)
        for (int r = 0; r < p->J; r++)
            fftwf_free(p->phi_weight[r]);
    if (p->space_low)
        for (int r = 0; r < p->J; r++)
            scatter_space_low_free(&p->space_low[r]);
    MEMORY_FREE_ALL(p->psi_weight, p->phi_weight, p->space_low, p->work, p->levels,
                    p->row_source, p->col_source);
    scatter_filter_bank_free(p->bank);
    free(p);
}

size_t scatter_plan_channels(const scatter_plan *p) { return p->channels; }
size_t scatter_plan_output_height(const scatter_plan *p) { return p->out_height; }
size_t scatter_plan_output_width(const scatter_plan *p) { return p->out_width; }
const scatter_filter_bank *scatter_plan_filters(const scatter_plan *p) { return p->bank; }

void scatter_plan_profile(const scatter_plan *p, double *fftw_seconds, double *total_seconds)
{
    double f = 0, t = 0;
    for (int i = 0; i < p->threads; i++) {
        f += p->work[i]->fftw_seconds;
        t += p->work[i]->total_seconds;
    }
    if (fftw_seconds)
        *fftw_seconds = f;
    if (total_seconds)
        *total_seconds = t;
}

int scatter_wisdom_import(const char *path, dpkit_error *err)
{
    if (!fftwf_import_wisdom_from_filename(path))
        return error_set(err, "scatter: could not read FFTW wisdom from '%s' (missing file or "
                         "not single-precision FFTW wisdom)", path);
    return 0;
}

int scatter_wisdom_export(const char *path, dpkit_error *err)
{
    /* Written under a temporary name and renamed, so readers never see half a file. */
    char temp[4200];
    snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
    if (!fftwf_export_wisdom_to_filename(temp)) {
        remove(temp);
        return error_set(err, "scatter: could not write FFTW wisdom to '%s'", path);
    }
    return durable_replace(temp, path, err);
}
