/* The Morlet/Gabor filter bank of the scattering transform in the Fourier domain
 * (docs/maths.md 1.3-1.5): built in double precision, stored as float32 like Kymatio. */
#include "scatter/scatter.h"

#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Spatial Gabor filter, periodised over a 5 x 5 block of tiles (docs/maths.md 1.3). u runs
 * along rows. The rotation entries are rounded to float32 as Kymatio does; the rest is double,
 * including Kymatio's normalisation constant 3.1415 (not pi). */
static void gabor(size_t M, size_t N, double sigma, double theta, double xi, double slant,
                  double complex *g)
{
    double c = (float)cos(theta), s = (float)sin(theta);
    double two_sigma2 = 2 * sigma * sigma;
    double a00 = (c * c + s * s * slant * slant) / two_sigma2;
    double a01 = 2 * c * s * (1 - slant * slant) / two_sigma2;
    double a11 = (s * s + c * c * slant * slant) / two_sigma2;
    double kx = xi * cos(theta), ky = xi * sin(theta);
    memset(g, 0, M * N * sizeof *g);
    for (int ex = -2; ex <= 2; ex++)
        for (int ey = -2; ey <= 2; ey++)
            for (size_t m = 0; m < M; m++) {
                double u = (double)m + ex * (double)M;
                for (size_t n = 0; n < N; n++) {
                    double v = (double)n + ey * (double)N;
                    double re = -(a00 * u * u + a01 * u * v + a11 * v * v);
                    double im = u * kx + v * ky;
                    g[m * N + n] += exp(re) * (cos(im) + I * sin(im));
                }
            }
    double norm = 2 * 3.1415 * sigma * sigma / slant;
    for (size_t i = 0; i < M * N; i++)
        g[i] /= norm;
}

/* Morlet = Gabor minus K times the zero-frequency Gabor, K making the DC coefficient zero. */
static void morlet(size_t M, size_t N, double sigma, double theta, double xi, double slant,
                   double complex *psi, double complex *scratch)
{
    gabor(M, N, sigma, theta, xi, slant, psi);
    gabor(M, N, sigma, theta, 0, slant, scratch);
    double complex sum = 0, sum0 = 0;
    for (size_t i = 0; i < M * N; i++) {
        sum += psi[i];
        sum0 += scratch[i];
    }
    double complex k = sum / sum0;
    for (size_t i = 0; i < M * N; i++)
        psi[i] -= k * scratch[i];
}

/* Level-r version: the (M/2^r) x (N/2^r) crop keeping the lowest positive and negative
 * frequencies of each axis (docs/maths.md 1.5; equal to Kymatio's mask + fold). */
static void crop(const float *full, size_t M, size_t N, int r, float *out)
{
    size_t m = M >> r, n = N >> r;
    for (size_t k = 0; k < m; k++) {
        size_t sk = k < m / 2 ? k : k + M - m;
        for (size_t l = 0; l < n; l++) {
            size_t sl = l < n / 2 ? l : l + N - n;
            out[k * n + l] = full[sk * N + sl];
        }
    }
}

/* Fourier transform in double, keep the real part as float32, then store every level. */
static int store_levels(const double complex *spatial, fftw_plan fft, double complex *spectrum,
                        size_t M, size_t N, int levels, float ***out, dpkit_error *err)
{
    fftw_execute_dft(fft, (fftw_complex *)spatial, (fftw_complex *)spectrum);
    float **lv = calloc((size_t)levels, sizeof *lv);
    if (!lv)
        return error_set(err, "scatter filter bank: out of memory");
    *out = lv;
    for (int r = 0; r < levels; r++) {
        lv[r] = malloc((M >> r) * (N >> r) * sizeof(float));
        if (!lv[r])
            return error_set(err, "scatter filter bank: out of memory (%zu x %zu)", M, N);
    }
    for (size_t i = 0; i < M * N; i++)
        lv[0][i] = (float)creal(spectrum[i]);
    for (int r = 1; r < levels; r++)
        crop(lv[0], M, N, r, lv[r]);
    return 0;
}

static int build(scatter_filter_bank *bank, dpkit_error *err)
{
    int J = bank->J, L = bank->L;
    size_t M = bank->M, N = bank->N;
    double complex *spatial = fftw_malloc(M * N * sizeof *spatial);
    double complex *scratch = fftw_malloc(M * N * sizeof *scratch);
    double complex *spectrum = fftw_malloc(M * N * sizeof *spectrum);
    fftw_plan fft = NULL;
    int status = -1;
    if (!spatial || !scratch || !spectrum) {
        error_set(err, "scatter filter bank: out of memory (%zu x %zu)", M, N);
        goto done;
    }
    fft = fftw_plan_dft_2d((int)M, (int)N, (fftw_complex *)spatial, (fftw_complex *)spectrum,
                           FFTW_FORWARD, FFTW_ESTIMATE);
    if (!fft) {
        error_set(err, "scatter filter bank: FFTW could not plan a %zu x %zu transform", M, N);
        goto done;
    }
    double slant = 4.0 / L;
    /* trunc(L - L/2 - 1) with real division, as Kymatio (docs/maths.md 1.4). */
    int theta_offset = (int)(L - L / 2.0 - 1);
    for (int j = 0; j < J; j++)
        for (int t = 0; t < L; t++) {
            int n = j * L + t;
            double sigma = 0.8 * ldexp(1, j);
            double xi = 0.75 * M_PI / ldexp(1, j);
            double theta = (theta_offset - t) * M_PI / L;
            morlet(M, N, sigma, theta, xi, slant, spatial, scratch);
            if (store_levels(spatial, fft, spectrum, M, N, bank->psi_levels[n], &bank->psi[n],
                             err))
                goto done;
        }
    /* phi uses 2^(J-1), not 2^J (docs/maths.md 1.4). */
    gabor(M, N, 0.8 * ldexp(1, J - 1), 0, 0, 1, spatial);
    if (store_levels(spatial, fft, spectrum, M, N, J, &bank->phi, err))
        goto done;
    status = 0;
done:
    if (fft)
        fftw_destroy_plan(fft);
    fftw_free(spatial);
    fftw_free(scratch);
    fftw_free(spectrum);
    return status;
}

int scatter_filter_bank_create(int J, int L, size_t M, size_t N, scatter_filter_bank **out,
                               dpkit_error *err)
{
    *out = NULL;
    if (J < 1 || J > 24)
        return error_set(err, "scatter filter bank: J = %d, expected 1 <= J <= 24", J);
    if (L < 1 || L > 1024)
        return error_set(err, "scatter filter bank: L = %d, expected 1 <= L <= 1024", L);
    size_t step = (size_t)1 << J;
    if (M < step || N < step || M % step || N % step)
        return error_set(err,
                         "scatter filter bank: padded size %zu x %zu must be positive multiples "
                         "of 2^J = %zu",
                         M, N, step);
    if (M > (1u << 16) || N > (1u << 16) || M * N > ((size_t)1 << 28))
        return error_set(err, "scatter filter bank: padded size %zu x %zu is too large", M, N);
    scatter_filter_bank *bank = calloc(1, sizeof *bank);
    if (!bank)
        return error_set(err, "scatter filter bank: out of memory");
    *bank = (scatter_filter_bank){.J = J, .L = L, .M = M, .N = N};
    size_t count = (size_t)J * (size_t)L;
    bank->psi = calloc(count, sizeof *bank->psi);
    bank->psi_levels = calloc(count, sizeof *bank->psi_levels);
    if (!bank->psi || !bank->psi_levels) {
        scatter_filter_bank_free(bank);
        return error_set(err, "scatter filter bank: out of memory");
    }
    int max_level = J - 1 > 1 ? J - 1 : 1;
    for (int j = 0; j < J; j++)
        for (int t = 0; t < L; t++)
            bank->psi_levels[j * L + t] = j + 1 < max_level ? j + 1 : max_level;
    if (build(bank, err)) {
        scatter_filter_bank_free(bank);
        return -1;
    }
    *out = bank;
    return 0;
}

static void free_levels(float **levels, int count)
{
    if (!levels)
        return;
    for (int r = 0; r < count; r++)
        free(levels[r]);
    free(levels);
}

void scatter_filter_bank_free(scatter_filter_bank *bank)
{
    if (!bank)
        return;
    if (bank->psi)
        for (int n = 0; n < bank->J * bank->L; n++)
            free_levels(bank->psi[n], bank->psi_levels[n]);
    free_levels(bank->phi, bank->J);
    free(bank->psi);
    free(bank->psi_levels);
    free(bank);
}
