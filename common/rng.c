/* ChaCha20 keystream RNG with seekable positions (see rng.h). */
#include "common/rng.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

static void ensure_sodium(void)
{
    static int ready = 0;
    if (!ready) {
        if (sodium_init() < 0) {
            /* libsodium only fails to initialise when the OS has no entropy source at all;
             * carrying on would make "secure" noise predictable. */
            abort();
        }
        ready = 1;
    }
}

void rng_key_from_seed(uint64_t seed, uint8_t key[RNG_KEY_BYTES])
{
    ensure_sodium();
    uint8_t message[8 + 12];
    for (int i = 0; i < 8; i++)
        message[i] = (uint8_t)(seed >> (8 * i));
    memcpy(message + 8, "dpkit.rng.v1", 12);
    crypto_generichash(key, RNG_KEY_BYTES, message, sizeof message, NULL, 0);
}

void rng_key_from_os(uint8_t key[RNG_KEY_BYTES])
{
    ensure_sodium();
    randombytes_buf(key, RNG_KEY_BYTES);
}

int rng_stream_is_private(uint64_t stream)
{
    return stream == RNG_STREAM_SAMPLING || stream == RNG_STREAM_NOISE ||
           stream == RNG_STREAM_NORM_NOISE;
}

void rng_private_key(int reproducible, uint64_t seed, uint8_t key[RNG_KEY_BYTES])
{
    if (reproducible)
        rng_key_from_seed(seed, key);
    else
        rng_key_from_os(key);
}

const char *rng_noise_key_description(int reproducible)
{
    return reproducible ? RNG_NOISE_KEY_FROM_SEED : RNG_NOISE_KEY_SECRET;
}

static void refill(rng *r, uint64_t block_aligned_offset)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
    for (size_t i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(r->stream >> (8 * i));
    memset(r->buffer, 0, RNG_BUFFER_BYTES);
    crypto_stream_chacha20_xor_ic(r->buffer, r->buffer, RNG_BUFFER_BYTES, nonce,
                                  block_aligned_offset / 64, r->key);
    r->buffer_start = block_aligned_offset;
    r->buffer_fill = RNG_BUFFER_BYTES;
}

void rng_init(rng *r, const uint8_t key[RNG_KEY_BYTES], uint64_t stream)
{
    ensure_sodium();
    memcpy(r->key, key, RNG_KEY_BYTES);
    r->stream = stream;
    r->buffer_start = 0;
    r->buffer_used = 0;
    r->buffer_fill = 0;
}

void rng_init_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint8_t key[RNG_KEY_BYTES];
    rng_key_from_seed(seed, key);
    rng_init(r, key, stream);
    sodium_memzero(key, sizeof key);
}

uint64_t rng_tell(const rng *r) { return r->buffer_start + r->buffer_used; }

void rng_seek(rng *r, uint64_t position)
{
    uint64_t block = position - position % 64;
    refill(r, block);
    r->buffer_used = (size_t)(position - block);
}

void rng_bytes(rng *r, void *out, size_t n)
{
    uint8_t *dst = out;
    while (n > 0) {
        if (r->buffer_used == r->buffer_fill)
            rng_seek(r, rng_tell(r));
        size_t take = r->buffer_fill - r->buffer_used;
        if (take > n)
            take = n;
        memcpy(dst, r->buffer + r->buffer_used, take);
        r->buffer_used += take;
        dst += take;
        n -= take;
    }
}

uint64_t rng_uint64(rng *r)
{
    uint8_t b[8];
    rng_bytes(r, b, 8);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)b[i] << (8 * i);
    return x;
}

double rng_uniform(rng *r) { return (double)(rng_uint64(r) >> 11) * 0x1.0p-53; }

uint64_t rng_below(rng *r, uint64_t n)
{
    /* Rejection: accept x below the largest multiple of n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_uint64(r);
    while (x >= limit);
    return x % n;
}

static void box_muller_pair(rng *r, double *z0, double *z1)
{
    double u1 = 1.0 - rng_uniform(r); /* (0, 1]: log never sees 0 */
    double u2 = rng_uniform(r);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 2.0 * M_PI * u2;
    *z0 = radius * cos(angle);
    *z1 = radius * sin(angle);
}

double rng_gaussian(rng *r)
{
    double z0, z1;
    box_muller_pair(r, &z0, &z1);
    return z0;
}

void rng_shuffle_indices(rng *r, size_t *indices, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        size_t t = indices[i - 1];
        indices[i - 1] = indices[j];
        indices[j] = t;
    }
}
