/* The per-(q, sigma) part of the RDP series of docs/maths.md 2.3-2.4, shared by all orders
 * (constants, tables, memo), and the series summed in linear space: the fast path of rdp.c. */
#include "accountant/accountant_internal.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Terms below e^-30 end the series once they are decreasing (docs/maths.md 2.4, 2.9). */
#define SERIES_TERM_THRESHOLD (-30.0)
/* The fractional sum is accepted when the absolute values of its terms (all but the leading
 * one) add up to at most this multiple of the result. Beyond, alternating terms cancel and the
 * last digits are rounding noise, which only the log-space path reproduces as TF Privacy rounds
 * it (e.g. q = 0.001, sigma = 0.6, alpha = 1.1, where the terms reach e^25). */
#define SERIES_MAX_CANCELLATION 4.0
/* Largest relative rounding error of TF Privacy's log-space fractional sum that the linear one
 * accepts (see log_a_fractional): half the 1e-9 to which dpkit matches the reference. */
#define SERIES_REFERENCE_AGREEMENT 5e-10
/* A term below this might underflow before the series ends; the log-space path takes over. */
#define SERIES_SMALLEST 0x1p-1000
/* An integer-order term above 2^600 is scaled down by that power of two (exactly). */
#define SERIES_RESCALE 0x1p600
#define SERIES_LOG_RESCALE (600.0 * M_LN2)

void accountant_rdp_series_init(accountant_rdp_series *s, double q, double sigma)
{
    s->q = q;
    s->sigma = sigma;
    s->log_q = log(q);
    s->log_1mq = log(1.0 - q);
    s->two_var = 2.0 * (sigma * sigma);
    s->z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
    s->scale = M_SQRT2 * sigma;
    /* q/(1-q) from the rounded logarithms, as the reference's i log q + (alpha-i) log(1-q). */
    s->log_rho = s->log_q - s->log_1mq;
    s->rho = exp(s->log_rho);
    s->growth = exp(1.0 / (sigma * sigma));
    s->log_e0_count = 0;
    s->memo_count = 0;
    memset(s->memo_used, 0, sizeof s->memo_used);
}

double accountant_rdp_log_e0(accountant_rdp_series *s, size_t i)
{
    if (i >= ACCOUNTANT_RDP_TABLE)
        return -M_LN2 + accountant_log_erfc(((double)i - s->z0) / s->scale);
    while (s->log_e0_count <= i) {
        size_t k = s->log_e0_count++;
        s->log_e0[k] = -M_LN2 + accountant_log_erfc(((double)k - s->z0) / s->scale);
        s->b0[k] = exp((double)k * s->log_rho + ((double)k * (double)k - (double)k) / s->two_var +
                       s->log_e0[k]);
    }
    return s->log_e0[i];
}

/* The memo entry of j: a slot found by Fibonacci hashing of the bit pattern and linear
 * probing; NULL once the memo is half full (the caller then computes directly). */
static inline accountant_rdp_memo_entry *memo_entry(accountant_rdp_series *s, double j)
{
    uint64_t bits;
    memcpy(&bits, &j, sizeof bits);
    size_t slot = (size_t)((bits * UINT64_C(0x9E3779B97F4A7C15)) >> 54) & (ACCOUNTANT_RDP_MEMO - 1);
    for (;; slot = (slot + 1) & (ACCOUNTANT_RDP_MEMO - 1)) {
        accountant_rdp_memo_entry *entry = &s->memo[slot];
        if (!s->memo_used[slot]) {
            if (2 * s->memo_count >= ACCOUNTANT_RDP_MEMO)
                return NULL;
            s->memo_used[slot] = 1;
            s->memo_count++;
            entry->j = j;
            entry->log_e1 = -M_LN2 + accountant_log_erfc((s->z0 - j) / s->scale);
            entry->b1 = exp(j * s->log_rho + (j * j - j) / s->two_var + entry->log_e1);
            return entry;
        }
        uint64_t entry_bits;
        memcpy(&entry_bits, &entry->j, sizeof entry_bits);
        if (entry_bits == bits)
            return entry;
    }
}

double accountant_rdp_log_e1(accountant_rdp_series *s, double j)
{
    accountant_rdp_memo_entry *entry = memo_entry(s, j);
    return entry ? entry->log_e1 : -M_LN2 + accountant_log_erfc((s->z0 - j) / s->scale);
}

/* b0_i = rho^i e^{(i^2-i)/(2 sigma^2)} erfc(x0_i)/2: term i of A0 over |binom(alpha, i)|
 * (1-q)^alpha, which does not depend on alpha (docs/maths.md 2.4). */
static double b0_at(accountant_rdp_series *s, size_t i)
{
    if (i < s->log_e0_count)
        return s->b0[i];
    double log_e0 = accountant_rdp_log_e0(s, i);
    if (i < ACCOUNTANT_RDP_TABLE)
        return s->b0[i];
    double k = (double)i;
    return exp(k * s->log_rho + (k * k - k) / s->two_var + log_e0);
}

/* b1 = rho^j e^{(j^2-j)/(2 sigma^2)} erfc(x1)/2 with j = alpha - i: term i of A1 over
 * |binom(alpha, i)| (1-q)^alpha, which depends on j only. Its logarithm is the reference's
 * log-space term less log|binom| and alpha log(1-q), so e.g. e^{(j^2-j)/(2 sigma^2)} and the
 * tiny erfc never meet in linear space, where they would overflow and underflow. */
static double b1_at(accountant_rdp_series *s, double j)
{
    accountant_rdp_memo_entry *entry = memo_entry(s, j);
    if (entry)
        return entry->b1;
    double log_e1 = -M_LN2 + accountant_log_erfc((s->z0 - j) / s->scale);
    return exp(j * s->log_rho + (j * j - j) / s->two_var + log_e1);
}

/* floor(log2 t) for a normal t > 0, read from its bits (ilogb without the call). */
static int binary_exponent(double t)
{
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    return (int)((bits >> 52) & 0x7ff) - 1023;
}

/* ulp(x) / 2^-52 for a normal x > 0: x with its mantissa bits cleared. */
static double ulp_units(double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= UINT64_C(0xfff0000000000000);
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* An upper bound on |log(e^log_scale t)| from the binary exponent of t (no logarithm). */
static double log_magnitude(double log_scale, double t)
{
    return fabs(log_scale) + (fabs((double)binary_exponent(t)) + 1.0) * M_LN2;
}

/* 1 if log_a is finite and the bound `noise` (units of 2^-52) on how far TF Privacy's log-space
 * sum may be from it is within SERIES_REFERENCE_AGREEMENT of it. */
static int agrees_with_reference(double log_a, double noise)
{
    return isfinite(log_a) && 0x1p-52 * noise <= SERIES_REFERENCE_AGREEMENT * fabs(log_a);
}

/* Fractional alpha (docs/maths.md 2.4): A_alpha = (1-q)^alpha sum_i sign_i |binom(alpha, i)|
 * (b0_i + b1_i), with |binom| by its recurrence and the stopping rule of rdp.c (terms
 * decreasing and below e^-30). The leading term b0_0 stays apart, log A = alpha log(1-q) +
 * log b0_0 + log1p(rest / b0_0), so that a tiny RDP (A - 1 ~ 1e-9) keeps its relative accuracy.
 *
 * This sum is accurate to ~1e-12 relative, but TF Privacy's log-space one is not: each of its
 * subtractions log(expm1(a - b)) + b is off by about ulp(|a| + |b|), each addition
 * a + log1p(exp(b - a)) by ulp(|a|) plus e^{b-a} ulp(|b - a|). `noise` bounds the total
 * (weighted by the shares of A0 and A1 in A, |b| from the binary exponent of the term); where
 * it is too large the caller replays TF's operations instead, so that dpkit and the reference
 * stay within 1e-9 of each other (e.g. q = 0.001, sigma = 5, alpha = 1.1, where TF's value is
 * 1e-6 from the exact sum of the same terms, and the test data has it). */
static int log_a_fractional(accountant_rdp_series *s, double alpha, double *log_a)
{
    double log_scale = alpha * s->log_1mq;
    double threshold = exp(SERIES_TERM_THRESHOLD - log_scale);
    double lead = b0_at(s, 0);
    double log_lead = accountant_rdp_log_e0(s, 0);
    double coef = 1.0, sign = 1.0;
    double rest0 = 0.0, sum1 = 0.0, magnitude = 0.0;
    double previous0 = 0.0, previous1 = 0.0;
    double noise0 = 0.0, noise1 = 0.0, added0 = 0.0, added1 = 0.0;
    for (size_t i = 0; i < ACCOUNTANT_RDP_TABLE; i++) {
        double di = (double)i;
        if (i > 0) /* binom(alpha, i) = binom(alpha, i-1) (alpha - i + 1) / i */
            coef *= accountant_rdp_binomial_step(alpha, di, &sign);
        double t0 = coef * b0_at(s, i);
        double t1 = coef * b1_at(s, alpha - di);
        if (!(t0 >= SERIES_SMALLEST && t1 >= SERIES_SMALLEST && t0 + t1 < INFINITY))
            return -1;
        if (i > 0) {
            rest0 += sign * t0;
            magnitude += t0;
        }
        sum1 += sign * t1;
        magnitude += t1;
        if (sign < 0.0) {
            /* log(expm1(a - b)) + b is off by ulp(a - b), |a - b| <= |a| + |b|. */
            noise0 += ulp_units(log_magnitude(log_scale, t0) +
                                log_magnitude(log_scale, lead + rest0 + t0));
            noise1 += ulp_units(log_magnitude(log_scale, t1) + log_magnitude(log_scale, sum1 + t1));
        } else if (i > 0) {
            added0 += t0 * log_magnitude(log_scale, t0);
            added1 += t1 * log_magnitude(log_scale, t1);
        }
        /* A partial sum below zero fails TF's log-space subtraction: let that path decide. */
        if (lead + rest0 < 0.0 || sum1 < 0.0)
            return -1;
        if (i > 0 && t0 < previous0 && t1 < previous1 && t0 < threshold && t1 < threshold) {
            double rest = rest0 + sum1, total = lead + rest;
            if (magnitude > SERIES_MAX_CANCELLATION * total)
                return -1;
            /* Where the leading term does not dominate, log_lead and log1p(rest / lead) would
             * cancel (e.g. -620 and +648 for q = 0.65, sigma = 57): sum first. */
            *log_a = log_scale + (rest <= lead ? log_lead + log1p(rest / lead) : log(total));
            /* The bound on TF's rounding: each of its i + 1 additions also rounds to ulp of its
             * running sum; plus this sum's own, mostly that of alpha log(1-q) and the log1p. */
            double terms = di + 1.0, share1 = sum1 / total;
            double log_a0 = log_scale + log(lead + rest0), log_a1 = log_scale + log(sum1);
            double noise = (1.0 - share1) * (noise0 + added0 / (lead + rest0) +
                                             terms * fabs(log_a0)) +
                           share1 * (noise1 + added1 / sum1 + terms * fabs(log_a1)) +
                           2.0 * fabs(log_scale);
            return agrees_with_reference(*log_a, noise) ? 0 : -1;
        }
        previous0 = t0;
        previous1 = t1;
    }
    return -1;
}

/* Integer alpha = n (docs/maths.md 2.3): A_alpha = (1-q)^n sum_i binom(n, i) rho^i
 * e^{(i^2-i)/(2 sigma^2)}, term i being term i-1 times (n-i+1)/i rho e^{(i-1)/sigma^2}. All
 * terms are positive; log A = n log(1-q) + log1p(rest) keeps the accuracy of a tiny RDP. For
 * very small q, though, log A is a tiny difference, n log(1-q) + log1p(rest), and TF's
 * log-space sum is off by ulp(|a|) plus e^{b-a} ulp(|b - a|) at each addition a (+) b that
 * changes it: where that bound exceeds SERIES_REFERENCE_AGREEMENT of log A, the caller replays
 * TF's operations. */
static int log_a_integer(const accountant_rdp_series *s, double alpha, double *log_a)
{
    double n = alpha;
    double log_head = n * s->log_1mq;
    double term = 1.0, head = 1.0, rest = 0.0, growth = 1.0;
    double additions = 1.0; /* terms above 2^-53 of the running sum */
    double added = 0.0;     /* sum of term |log term|, in the scale of rest */
    int shifts = 0;
    for (double i = 1.0; i <= n; i += 1.0) {
        /* The ratio apart, so that one multiplication carries term from step to step. */
        double ratio = (n - (i - 1.0)) / i * (s->rho * growth);
        term *= ratio;
        growth *= s->growth;
        if (!(term >= SERIES_SMALLEST && term < INFINITY && growth < INFINITY))
            return -1;
        rest += term;
        if (term > 0x1p-53 * (head + rest)) {
            additions += 1.0;
            added += term * (log_magnitude(log_head, term) + shifts * SERIES_LOG_RESCALE);
        }
        if (term > SERIES_RESCALE) {
            term /= SERIES_RESCALE;
            rest /= SERIES_RESCALE;
            head /= SERIES_RESCALE;
            added /= SERIES_RESCALE;
            shifts++;
        }
    }
    double log_sum = shifts == 0 ? log1p(rest) : shifts * SERIES_LOG_RESCALE + log(head + rest);
    *log_a = log_head + log_sum;
    /* An error in the log of a partial sum reaches log A scaled by partial / total, hence the
     * division by the total. */
    double noise = added / (head + rest) + additions * (fabs(log_head) + fabs(log_sum)) +
                   2.0 * fabs(log_head);
    return agrees_with_reference(*log_a, noise) ? 0 : -1;
}

int accountant_rdp_log_a_linear(accountant_rdp_series *s, double alpha, double *log_a)
{
    if (!(alpha > 1.0 && alpha < 1e6))
        return -1;
    return floor(alpha) == alpha ? log_a_integer(s, alpha, log_a)
                                 : log_a_fractional(s, alpha, log_a);
}
