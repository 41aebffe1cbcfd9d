/* The secure Gaussian sampler of common/rng.h (docs/maths.md 4.8): two Box-Muller pairs from 32
 * keystream bytes, with log, sin and cos computed here by polynomials in double (docs/maths.md
 * 4.14) from additions, multiplications, a division and a square root only. Those are
 * correctly rounded everywhere, and the build contracts nothing into FMAs (ISO C mode), so the
 * scalar draw and the vectorised bulk fill (one clone per vector width, common/simd.h) give the
 * same bits on every CPU. Built with -fno-math-errno (Makefile), so that sqrt vectorises. */
#include "common/rng.h"
#include "common/simd.h"

/* Selects between computed values vectorise only when the compiler may evaluate both sides: no
 * FP trap is ever enabled here, and the results do not change. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <sodium.h>
#include <string.h>

#define GAUSSIAN_INLINE static inline __attribute__((always_inline))

typedef union gaussian_bits {
    double d;
    uint64_t u;
} gaussian_bits;

/* The double whose bits are b, and back: the integer steps below are bit operations, which
 * vectorise on every width (int64 <-> double conversions need AVX-512DQ). */
GAUSSIAN_INLINE double bits_double(uint64_t b)
{
    gaussian_bits x = {.u = b};
    return x.d;
}

GAUSSIAN_INLINE uint64_t double_bits(double d)
{
    gaussian_bits x = {.d = d};
    return x.u;
}

/* c[0] z^(n-1) + c[1] z^(n-2) + ... + c[n-1] by Horner's rule, fully unrolled so that the
 * callers' loops vectorise; the same operations in the same order on every vector width. */
GAUSSIAN_INLINE double horner(double z, const double *c, int n)
{
    double p = c[0];
#pragma GCC unroll 16
    for (int k = 1; k < n; k++)
        p = p * z + c[k];
    return p;
}

/* v as a double for v < 2^52, exactly: 2^52 + v has v as its mantissa. */
GAUSSIAN_INLINE double small_integer(uint64_t v)
{
    return bits_double(0x4330000000000000u | v) - 0x1p52;
}

/* (w >> 11) 2^-53, the uniform of rng_uniform, exactly: 53 bits in two parts of 27 and 26. */
GAUSSIAN_INLINE double unit_uniform(uint64_t w)
{
    uint64_t v = w >> 11;
    return small_integer(v >> 26) * 0x1p-27 + small_integer(v & 0x3ffffffu) * 0x1p-53;
}

/* ln u for u in [2^-53, 1] (docs/maths.md 4.14): u = 2^e m with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...) with s = (m - 1)/(m + 1), |s| <= 0.1716:
 * the terms to s^21 leave a remainder below 2^-60 relative. */
GAUSSIAN_INLINE double log_unit(double u)
{
    uint64_t b = double_bits(u);
    double m = bits_double((b & 0x000fffffffffffffu) | 0x3ff0000000000000u); /* [1, 2) */
    uint64_t biased = b >> 52;                                              /* e + 1023 */
    int high = m > M_SQRT2;
    m = high ? 0.5 * m : m;
    /* e + 1023 + high <= 1024: its double exactly, less 1023 */
    double e = small_integer(biased + (uint64_t)high) - 1023.0;
    double s = (m - 1.0) / (m + 1.0), z = s * s;
    static const double odd_inverses[] = {1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                                          1.0 / 11, 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3};
    double p = horner(z, odd_inverses, 10);
    return e * M_LN2 + 2.0 * (s + s * (z * p));
}

/* cos(2 pi u) + sin(2 pi u) for u in [0, 1) (docs/maths.md 4.14): u = k/4 + f with k the
 * nearest quarter and |f| <= 1/8 (exact), a = 2 pi f in [-pi/4, pi/4], Taylor series of sin a
 * to a^17 and cos a to a^16 (remainders below 2^-57 relative), then the quadrant k mod 4 by
 * symmetry. */
GAUSSIAN_INLINE void sincos_turn(double u, double *c, double *s)
{
    double shifted = 4.0 * u + 0x1.8p52; /* rounds 4u to an integer k in its low bits */
    uint64_t k = double_bits(shifted);
    double f = u - 0.25 * (shifted - 0x1.8p52), a = 2.0 * M_PI * f, z = a * a;
    /* sin a = a + a z ps(z) and cos a = 1 + z pc(z), z = a^2: the Taylor coefficients from
     * 1/17! and 1/16! down to -1/3! and -1/2! */
    static const double sin_terms[] = {1.0 / 355687428096000.0, -1.0 / 1307674368000.0,
                                       1.0 / 6227020800.0,      -1.0 / 39916800.0,
                                       1.0 / 362880.0,          -1.0 / 5040.0,
                                       1.0 / 120.0,             -1.0 / 6.0};
    static const double cos_terms[] = {1.0 / 20922789888000.0, -1.0 / 87178291200.0,
                                       1.0 / 479001600.0,      -1.0 / 3628800.0,
                                       1.0 / 40320.0,          -1.0 / 720.0,
                                       1.0 / 24.0,             -0.5};
    double ps = horner(z, sin_terms, 8), pc = horner(z, cos_terms, 8);
    double sin_a = a + a * (z * ps), cos_a = 1.0 + z * pc;
    /* angle k pi/2 + a: k = 1 gives (cos, sin) = (-sin a, cos a), k = 2 (-cos a, -sin a),
     * k = 3 (sin a, -cos a) */
    int odd = (int)(k & 1), negate_cos = (int)((k + 1) & 2), negate_sin = (int)(k & 2);
    double x = odd ? sin_a : cos_a, y = odd ? cos_a : sin_a;
    *c = negate_cos ? -x : x;
    *s = negate_sin ? -y : y;
}

/* One secure value from the four little-endian keystream words of its 32 bytes, in the order
 * they are drawn: (r1 cos t1 + r1 sin t1 + r2 cos t2 + r2 sin t2) / 2 with r = sqrt(-2 ln u1),
 * u1 = 1 - uniform in (0, 1] (log never sees 0), t = 2 pi u2 (docs/maths.md 4.8). */
GAUSSIAN_INLINE double secure_value(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3)
{
    double c1, s1, c2, s2;
    double r1 = sqrt(-2.0 * log_unit(1.0 - unit_uniform(w0)));
    sincos_turn(unit_uniform(w1), &c1, &s1);
    double r2 = sqrt(-2.0 * log_unit(1.0 - unit_uniform(w2)));
    sincos_turn(unit_uniform(w3), &c2, &s2);
    return (r1 * c1 + r1 * s1 + r2 * c2 + r2 * s2) / 2.0;
}

GAUSSIAN_INLINE uint64_t little_endian_word(const uint8_t *b)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)b[i] << (8 * i);
    return x;
}

double rng_gaussian_secure_of(const uint8_t bytes[RNG_GAUSSIAN_SECURE_BYTES])
{
    return secure_value(little_endian_word(bytes), little_endian_word(bytes + 8),
                        little_endian_word(bytes + 16), little_endian_word(bytes + 24));
}

double rng_gaussian_secure(rng *r)
{
    uint8_t bytes[RNG_GAUSSIAN_SECURE_BYTES];
    rng_bytes(r, bytes, sizeof bytes);
    double z = rng_gaussian_secure_of(bytes);
    sodium_memzero(bytes, sizeof bytes);
    return z;
}

/* Values per chunk: 32 KB of keystream, in L1 while it is turned into values. */
#define SECURE_CHUNK 1024

/* out[i] += std * value i for the n <= SECURE_CHUNK values of `bytes`. */
SIMD_CLONES
static void add_secure_values(const uint8_t *bytes, size_t n, double std, float *out)
{
    uint64_t w[4][SECURE_CHUNK];
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            w[k][i] = little_endian_word(bytes + RNG_GAUSSIAN_SECURE_BYTES * i + 8 * k);
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        out[i] += (float)(std * secure_value(w[0][i], w[1][i], w[2][i], w[3][i]));
    sodium_memzero(w, sizeof w);
}

void rng_fill_gaussian_secure(rng *r, float *out, size_t n, double std)
{
    memset(out, 0, n * sizeof *out);
    rng_add_gaussian_secure(r, out, n, std);
}

void rng_add_gaussian_secure(rng *r, float *out, size_t n, double std)
{
    /* Every secure value consumes exactly 32 keystream bytes, so chunk k starts at a known
     * position: threads fill chunks from copies of the generator seeked there and get the
     * values of one sequential pass. */
    uint64_t start = rng_tell(r);
    size_t chunks = (n + SECURE_CHUNK - 1) / SECURE_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 8)
    for (size_t k = 0; k < chunks; k++) {
        rng local = *r;
        uint8_t bytes[SECURE_CHUNK * RNG_GAUSSIAN_SECURE_BYTES];
        size_t first = k * SECURE_CHUNK, m = n - first < SECURE_CHUNK ? n - first : SECURE_CHUNK;
        rng_seek(&local, start + (uint64_t)first * RNG_GAUSSIAN_SECURE_BYTES);
        rng_bytes(&local, bytes, m * RNG_GAUSSIAN_SECURE_BYTES);
        add_secure_values(bytes, m, std, out + first);
        sodium_memzero(bytes, m * RNG_GAUSSIAN_SECURE_BYTES);
        sodium_memzero(&local, sizeof local);
    }
    rng_seek(r, start + (uint64_t)n * RNG_GAUSSIAN_SECURE_BYTES);
}
