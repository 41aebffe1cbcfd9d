/* Discrete privacy loss distributions: composition by real-input FFTs (FFTW, double), Chernoff
 * windows for self-composition, pessimistic tail truncation, delta/epsilon read-off
 * (docs/maths.md 3.4-3.6). */
#include "accountant/pld_pmf_internal.h"

#include "accountant/accountant.h"

/* complex.h before fftw3.h makes fftw_complex the C99 double complex. */
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* FFTW's planner is not thread-safe. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

int pld_pmf_alloc(pld_pmf *pmf, size_t n, dpkit_error *err)
{
    pmf->offset = 0;
    pmf->infinity_mass = 0.0;
    pmf->n = n;
    pmf->p = calloc(n ? n : 1, sizeof *pmf->p);
    if (!pmf->p)
        return error_set(err, "PLD: out of memory for %zu loss values", n);
    return 0;
}

void pld_pmf_free(pld_pmf *pmf)
{
    if (!pmf)
        return;
    free(pmf->p);
    pmf->p = NULL;
    pmf->n = 0;
}

void pld_pmf_truncate(pld_pmf *pmf, double tail, pld_bound bound)
{
    size_t first = 0, last = pmf->n - 1;
    double prefix = 0.0, suffix = 0.0;
    while (first < last && prefix + pmf->p[first] <= tail / 2.0)
        prefix += pmf->p[first++];
    while (last > first && suffix + pmf->p[last] <= tail / 2.0)
        suffix += pmf->p[last--];
    if (bound == PLD_PESSIMISTIC) {
        pmf->p[first] += prefix;
        pmf->infinity_mass += suffix;
    }
    size_t kept = last - first + 1;
    if (first > 0)
        memmove(pmf->p, pmf->p + first, kept * sizeof *pmf->p);
    pmf->offset += (long long)first;
    pmf->n = kept;
}

/* Smallest 2^a 3^b 5^c 7^d >= n: sizes FFTW transforms fastest. */
static size_t fast_fft_size(size_t n)
{
    size_t best = 1;
    while (best < n)
        best *= 2;
    for (size_t p7 = 1; p7 < best; p7 *= 7)
        for (size_t p5 = p7; p5 < best; p5 *= 5)
            for (size_t p3 = p5; p3 < best; p3 *= 3) {
                size_t m = p3;
                while (m < n)
                    m *= 2;
                if (m < best)
                    best = m;
            }
    return best;
}

/* Real FFT workspace of length `size` (size/2 + 1 complex bins). */
typedef struct fft_work {
    size_t size;
    double *real;
    fftw_complex *spectrum;
    fftw_plan forward, backward;
    int cached;                /* the plans belong to plan_cache */
    struct plan_entry *borrowed; /* the arrays too: this entry's */
} fft_work;

/* Plans kept for reuse, per transform size, with one pair of arrays each: FFTW_ESTIMATE
 * planning (twiddle tables, first touch of their pages) costs ten times the transform it plans
 * at the sizes the PLD uses, and fresh arrays of megabytes cost page faults on first touch;
 * calibration, curves and repeated calls ask for the same few sizes. A plan is executed on the
 * caller's arrays (new-array execution is thread-safe, and fftw_alloc gives every array the same
 * alignment); a thread that finds the cached arrays in use allocates its own. Never freed,
 * so bounded: at most PLAN_CACHE_ENTRIES sizes of at most PLAN_CACHE_MAX_SIZE (a few MiB of
 * arrays and twiddles each, under 100 MiB in all, however many noise multipliers a calibration
 * tries); other sizes are planned per call. */
#define PLAN_CACHE_ENTRIES 8
#define PLAN_CACHE_MAX_SIZE ((size_t)1 << 19)
typedef struct plan_entry {
    size_t size;
    fftw_plan forward, backward;
    double *real;
    fftw_complex *spectrum;
    int busy; /* the arrays are lent to a fft_work */
} plan_entry;
static plan_entry plan_cache[PLAN_CACHE_ENTRIES];
static size_t plan_cache_count;

/* The cache entry of `size`, created if there is room; NULL otherwise. Under planner_lock. */
static plan_entry *plan_cache_entry(size_t size)
{
    for (size_t i = 0; i < plan_cache_count; i++)
        if (plan_cache[i].size == size)
            return &plan_cache[i];
    if (size > PLAN_CACHE_MAX_SIZE || plan_cache_count == PLAN_CACHE_ENTRIES)
        return NULL;
    plan_entry e = {size, NULL, NULL, fftw_alloc_real(size), fftw_alloc_complex(size / 2 + 1), 0};
    if (e.real && e.spectrum) {
        e.forward = fftw_plan_dft_r2c_1d((int)size, e.real, e.spectrum, FFTW_ESTIMATE);
        e.backward = fftw_plan_dft_c2r_1d((int)size, e.spectrum, e.real, FFTW_ESTIMATE);
    }
    if (!e.forward || !e.backward) {
        if (e.forward)
            fftw_destroy_plan(e.forward);
        if (e.backward)
            fftw_destroy_plan(e.backward);
        fftw_free(e.real);
        fftw_free(e.spectrum);
        return NULL;
    }
    plan_cache[plan_cache_count] = e;
    return &plan_cache[plan_cache_count++];
}

static int fft_work_create(fft_work *w, size_t size, dpkit_error *err)
{
    memset(w, 0, sizeof *w);
    w->size = size;
    pthread_mutex_lock(&planner_lock);
    plan_entry *e = plan_cache_entry(size);
    if (e) {
        w->forward = e->forward;
        w->backward = e->backward;
        w->cached = 1;
        if (!e->busy) {
            e->busy = 1;
            w->real = e->real;
            w->spectrum = e->spectrum;
            w->borrowed = e;
        }
    }
    pthread_mutex_unlock(&planner_lock);
    if (!w->borrowed) {
        w->real = fftw_alloc_real(size);
        w->spectrum = fftw_alloc_complex(size / 2 + 1);
        if (!w->real || !w->spectrum) {
            fftw_free(w->real);
            fftw_free(w->spectrum);
            return error_set(err, "PLD: out of memory for an FFT of size %zu", size);
        }
    }
    if (w->cached)
        return 0;
    pthread_mutex_lock(&planner_lock);
    w->forward = fftw_plan_dft_r2c_1d((int)size, w->real, w->spectrum, FFTW_ESTIMATE);
    w->backward = fftw_plan_dft_c2r_1d((int)size, w->spectrum, w->real, FFTW_ESTIMATE);
    pthread_mutex_unlock(&planner_lock);
    if (!w->forward || !w->backward) {
        pthread_mutex_lock(&planner_lock);
        if (w->forward)
            fftw_destroy_plan(w->forward);
        if (w->backward)
            fftw_destroy_plan(w->backward);
        pthread_mutex_unlock(&planner_lock);
        fftw_free(w->real);
        fftw_free(w->spectrum);
        return error_set(err, "PLD: cannot plan an FFT of size %zu", size);
    }
    return 0;
}

static void fft_forward(fft_work *w)
{
    fftw_execute_dft_r2c(w->forward, w->real, w->spectrum);
}

static void fft_backward(fft_work *w)
{
    fftw_execute_dft_c2r(w->backward, w->spectrum, w->real);
}

static void fft_work_free(fft_work *w)
{
    pthread_mutex_lock(&planner_lock);
    if (!w->cached) {
        fftw_destroy_plan(w->forward);
        fftw_destroy_plan(w->backward);
    }
    if (w->borrowed)
        w->borrowed->busy = 0;
    pthread_mutex_unlock(&planner_lock);
    if (!w->borrowed) {
        fftw_free(w->real);
        fftw_free(w->spectrum);
    }
}

/* a * b by the textbook formula. C's `*` on complex doubles adds a NaN test per product and a
 * call into the library's __muldc3 (Annex G infinity recovery) behind it; the spectra here are
 * finite with |z| <= 1, where both give the same bits. */
static double complex complex_product(double complex a, double complex b)
{
    double ar = creal(a), ai = cimag(a), br = creal(b), bi = cimag(b);
    /* the parts set one by one: CMPLX is missing from some compilers' C17 (clang 14) */
    double parts[2] = {ar * br - ai * bi, ar * bi + ai * br};
    double complex z;
    memcpy(&z, parts, sizeof z);
    return z;
}

/* z^n by repeated squaring: about 2 log2(n) products, and as accurate as cpow for |z| <= 1. */
static double complex complex_power(double complex z, long long n)
{
    double complex result = 1.0;
    while (n > 0) {
        if (n & 1)
            result = complex_product(result, z);
        n >>= 1;
        if (n)
            z = complex_product(z, z);
    }
    return result;
}

/* Chernoff bounds on the index range of the sum of `times` draws from p (docs/maths.md 3.5):
 * outside [*lower, *upper] lies at most `tail` of the mass. M(lambda) = sum_i p_i e^{i lambda}
 * with |i lambda| <= 20, so it is summed directly, all 40 orders in one pass. */
static void chernoff_window(const pld_pmf *in, long long times, double tail, double *lower,
                            double *upper)
{
    enum { ORDERS = 20 };
    size_t n = in->n;
    double moment[2 * ORDERS], weight[2 * ORDERS], ratio[2 * ORDERS];
    for (int k = 0; k < ORDERS; k++) {
        double lambda = (k + 1.0) / (double)n;
        ratio[k] = exp(lambda);
        ratio[ORDERS + k] = exp(-lambda);
        weight[k] = weight[ORDERS + k] = 1.0;
    }
    /* Eight orders per pass over p, their sums and running powers kept in registers (40 at
     * once live in memory, where each product waits for the previous store). */
    enum { BLOCK = 8 };
    for (int k0 = 0; k0 < 2 * ORDERS; k0 += BLOCK) {
        double m[BLOCK], w[BLOCK], r[BLOCK];
        for (int j = 0; j < BLOCK; j++) {
            m[j] = 0.0;
            w[j] = weight[k0 + j];
            r[j] = ratio[k0 + j];
        }
        for (size_t i = 0; i < n; i++) {
            double p = in->p[i];
#pragma GCC unroll 8
            for (int j = 0; j < BLOCK; j++) {
                m[j] += p * w[j];
                w[j] *= r[j];
            }
        }
        for (int j = 0; j < BLOCK; j++)
            moment[k0 + j] = m[j];
    }
    double max_index = (double)(n - 1) * (double)times;
    double low = 0.0, high = max_index;
    double log_two_over_tail = log(2.0 / tail);
    for (int k = 0; k < 2 * ORDERS; k++) {
        double lambda = (k < ORDERS ? k + 1.0 : -(k - ORDERS + 1.0)) / (double)n;
        double bound = ((double)times * log(moment[k]) + log_two_over_tail) / lambda;
        if (!isfinite(bound))
            continue;
        if (lambda > 0.0)
            high = fmin(high, ceil(bound));
        else
            low = fmax(low, floor(bound));
    }
    if (low > high)
        low = high = fmin(fmax(low, 0.0), max_index);
    /* In double: (n - 1) times can pass 2^63; the caller checks the size before converting. */
    *lower = fmax(low, 0.0);
    *upper = fmin(high, max_index);
}

/* The error for a PMF longer than the cap (docs/maths.md 3.5: its length grows with the number
 * of compositions and 1/d). */
static int too_long(double points, const char *what, dpkit_error *err)
{
    return error_set(err, "PLD: %s needs %.3g loss grid points, more than the %zu (%zu MiB per "
                          "array) the PLD accountant allows; use the RDP accountant (--accountant "
                          "rdp) or a coarser discretization", what, points,
                     ACCOUNTANT_PLD_MAX_POINTS, ACCOUNTANT_PLD_MAX_POINTS * 8 >> 20);
}

int pld_pmf_self_compose(const pld_pmf *in, long long times, double tail, pld_bound bound,
                         pld_pmf *out, dpkit_error *err)
{
    if (times == 1) {
        if (pld_pmf_alloc(out, in->n, err) != 0)
            return -1;
        memcpy(out->p, in->p, in->n * sizeof *in->p);
        out->offset = in->offset;
        out->infinity_mass = in->infinity_mass;
        return 0;
    }
    double window_lower, window_upper;
    chernoff_window(in, times, tail, &window_lower, &window_upper);
    double points = window_upper - window_lower + 1.0;
    if (!(points <= (double)ACCOUNTANT_PLD_MAX_POINTS))
        return too_long(points, "the self-composition", err);
    long long lower = (long long)window_lower;
    size_t length = (size_t)points;
    /* offset * times + lower, the new offset, must fit (checked: signed overflow is undefined). */
    long long offset;
    if (__builtin_mul_overflow(in->offset, times, &offset) ||
        __builtin_add_overflow(offset, lower, &offset))
        return error_set(err, "PLD: the self-composition's loss offset %lld * %lld overflows",
                         in->offset, times);
    size_t size = fast_fft_size(length > in->n ? length : in->n);
    if (size > ACCOUNTANT_PLD_MAX_POINTS)
        return too_long((double)size, "the self-composition's FFT", err);
    fft_work w;
    if (fft_work_create(&w, size, err) != 0)
        return -1;
    if (pld_pmf_alloc(out, length, err) != 0) {
        fft_work_free(&w);
        return -1;
    }
    memset(w.real, 0, size * sizeof *w.real);
    memcpy(w.real, in->p, in->n * sizeof *in->p);
    fft_forward(&w);
    /* A bin with |z|^times < 1e-300 is set to 0 without its 2 log2(times) products: it adds
     * less than 1e-300 to any output. The spectrum of a spread-out PMF decays fast, so for
     * many steps most bins are such (the squaring would also pass through slow subnormals). */
    double norm_floor = exp(2.0 * log(1e-300) / (double)times);
    for (size_t k = 0; k < size / 2 + 1; k++) {
        double complex z = w.spectrum[k];
        double norm = creal(z) * creal(z) + cimag(z) * cimag(z);
        w.spectrum[k] = norm < norm_floor ? 0.0 : complex_power(z, times);
    }
    fft_backward(&w);
    /* The result is the circular convolution: index lower + j lives at (lower + j) mod size.
     * FFT rounding can leave tiny negative values; they are not probabilities. */
    size_t start = (size_t)(lower % (long long)size), index = start;
    for (size_t j = 0; j < length; j++) {
        double v = w.real[index] / (double)size;
        out->p[j] = v > 0.0 ? v : 0.0;
        index = index + 1 == size ? 0 : index + 1; /* (start + j) mod size without a division */
    }
    fft_work_free(&w);
    out->offset = offset;
    /* The mass outside the window, at most `tail`: charged to infinity, or dropped. */
    out->infinity_mass = (bound == PLD_PESSIMISTIC ? tail : 0.0) -
                         expm1((double)times * log1p(-in->infinity_mass));
    return 0;
}

int pld_pmf_compose(const pld_pmf *a, const pld_pmf *b, double tail, pld_bound bound,
                    pld_pmf *out, dpkit_error *err)
{
    size_t length = a->n + b->n - 1;
    long long offset;
    if (__builtin_add_overflow(a->offset, b->offset, &offset))
        return error_set(err, "PLD: the composition's loss offset %lld + %lld overflows",
                         a->offset, b->offset);
    if (length > ACCOUNTANT_PLD_MAX_POINTS ||
        (a->n > 1 && b->n > 1 && fast_fft_size(length) > ACCOUNTANT_PLD_MAX_POINTS))
        return too_long((double)length, "the composition", err);
    if (pld_pmf_alloc(out, length, err) != 0)
        return -1;
    if (a->n == 1 || b->n == 1) {
        const pld_pmf *single = a->n == 1 ? a : b, *other = a->n == 1 ? b : a;
        for (size_t i = 0; i < other->n; i++)
            out->p[i] = other->p[i] * single->p[0];
    } else {
        size_t size = fast_fft_size(length);
        fft_work w;
        if (fft_work_create(&w, size, err) != 0) {
            pld_pmf_free(out);
            return -1;
        }
        fftw_complex *first = fftw_alloc_complex(size / 2 + 1);
        if (!first) {
            fft_work_free(&w);
            pld_pmf_free(out);
            return error_set(err, "PLD: out of memory for an FFT of size %zu", size);
        }
        memset(w.real, 0, size * sizeof *w.real);
        memcpy(w.real, a->p, a->n * sizeof *a->p);
        fft_forward(&w);
        memcpy(first, w.spectrum, (size / 2 + 1) * sizeof *first);
        memset(w.real, 0, size * sizeof *w.real);
        memcpy(w.real, b->p, b->n * sizeof *b->p);
        fft_forward(&w);
        for (size_t k = 0; k < size / 2 + 1; k++)
            w.spectrum[k] = complex_product(w.spectrum[k], first[k]);
        fft_backward(&w);
        for (size_t j = 0; j < length; j++) {
            double v = w.real[j] / (double)size;
            out->p[j] = v > 0.0 ? v : 0.0;
        }
        fftw_free(first);
        fft_work_free(&w);
    }
    out->offset = offset;
    out->infinity_mass = a->infinity_mass + b->infinity_mass - a->infinity_mass * b->infinity_mass;
    pld_pmf_truncate(out, tail, bound);
    return 0;
}

double pld_pmf_delta(const pld_pmf *pmf, double discretization, double epsilon)
{
    double delta = pmf->infinity_mass;
    for (size_t i = pmf->n; i-- > 0;) {
        double loss = (double)(pmf->offset + (long long)i) * discretization;
        if (loss <= epsilon)
            break;
        delta -= pmf->p[i] * expm1(epsilon - loss);
    }
    return fmin(fmax(delta, 0.0), 1.0);
}

double pld_pmf_epsilon(const pld_pmf *pmf, double discretization, double delta)
{
    if (pmf->infinity_mass > delta)
        return INFINITY;
    /* Scanning down, U = the mass of the losses above the current one l plus the infinity mass,
     * and S = sum over them of p e^{l - loss} (W e^l for W = sum p e^-loss, kept by one product
     * per step instead of an exp and a log): between two losses delta(eps) = U - e^eps W, so
     * epsilon = l + log((U - delta)/S) once that is >= l. */
    double upper_mass = pmf->infinity_mass, scaled = 0.0, decay = exp(-discretization);
    double loss = 0.0;
    for (size_t i = pmf->n; i-- > 0;) {
        loss = (double)(pmf->offset + (long long)i) * discretization;
        if (i + 1 < pmf->n)
            scaled *= decay;
        if (scaled > 0.0 && upper_mass - delta >= scaled)
            return fmax(0.0, loss + log((upper_mass - delta) / scaled));
        upper_mass += pmf->p[i];
        scaled += pmf->p[i];
    }
    if (!(upper_mass > delta) || scaled == 0.0)
        return 0.0;
    return fmax(0.0, loss + log((upper_mass - delta) / scaled));
}
