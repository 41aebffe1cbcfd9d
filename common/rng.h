/* Random numbers for dpkit: a ChaCha20 keystream (libsodium) addressed by (key, stream id,
 * byte position), so any stream can be regenerated from its position and different streams
 * never overlap (the stream id is the ChaCha20 nonce). Keys come from a 64-bit seed
 * (reproducible) or from the OS (not reproducible, which is the point for real releases).
 * The private streams (sampling, noise, private normalisation) take an OS key unless a run
 * explicitly asks for reproducible noise: whoever can regenerate the noise of a release can
 * subtract it (docs/train.md, "Privacy of the randomness"). */
#ifndef DPKIT_COMMON_RNG_H
#define DPKIT_COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

#define RNG_KEY_BYTES 32
#define RNG_BUFFER_BYTES 4096

/* Stream ids: one per purpose, so that e.g. changing the model size never changes the batches. */
enum rng_stream_id {
    RNG_STREAM_SAMPLING = 1,   /* Poisson sampling of batches */
    RNG_STREAM_NOISE = 2,      /* DP-SGD Gaussian noise */
    RNG_STREAM_INIT = 3,       /* parameter initialisation */
    RNG_STREAM_NORM_NOISE = 4, /* private normalisation statistics */
    RNG_STREAM_CANARY = 5,     /* canary secrets and insertion */
    RNG_STREAM_SYNTHETIC = 6,  /* synthetic datasets */
    RNG_STREAM_AUDIT = 7,      /* audit choices (shadow splits, canary inclusion) */
    RNG_STREAM_SAMPLER = 8,    /* text generation */
    RNG_STREAM_ROBUST = 9,     /* attack starts and smoothing noise (not a privacy mechanism) */
    RNG_STREAM_AUGMENT = 10,   /* translations and flips of augmented copies (public) */
    RNG_STREAM_TEST = 100      /* tests; ids above this are free for callers */
};

typedef struct rng {
    uint8_t key[RNG_KEY_BYTES];
    uint64_t stream;
    uint64_t buffer_start;   /* keystream byte offset of buffer[0] (a multiple of 64) */
    size_t buffer_used;      /* bytes of buffer already consumed */
    size_t buffer_fill;      /* valid bytes in buffer */
    uint8_t buffer[RNG_BUFFER_BYTES];
} rng;

/* Derives a key from a seed with BLAKE2b, so nearby seeds give unrelated keys. */
void rng_key_from_seed(uint64_t seed, uint8_t key[RNG_KEY_BYTES]);
/* A fresh key from the operating system's CSPRNG. */
void rng_key_from_os(uint8_t key[RNG_KEY_BYTES]);
/* 1 for the streams whose key must stay secret for the DP guarantee: RNG_STREAM_SAMPLING,
 * RNG_STREAM_NOISE and RNG_STREAM_NORM_NOISE. */
int rng_stream_is_private(uint64_t stream);
/* The key of a run's private streams: from the OS, or (reproducible != 0) from the seed. */
void rng_private_key(int reproducible, uint64_t seed, uint8_t key[RNG_KEY_BYTES]);
/* What model files, summaries and reports record about that key (attribute noise_key). */
#define RNG_NOISE_KEY_SECRET "secret (OS entropy)"
#define RNG_NOISE_KEY_FROM_SEED \
    "derived from seed - not private against anyone holding the config"
const char *rng_noise_key_description(int reproducible);

void rng_init(rng *r, const uint8_t key[RNG_KEY_BYTES], uint64_t stream);
/* Convenience: rng_init with the key of a seed. */
void rng_init_seed(rng *r, uint64_t seed, uint64_t stream);
/* Position = number of keystream bytes consumed; rng_seek(r, rng_tell(r)) is a no-op, and
 * seeking to a saved position reproduces every later draw. */
uint64_t rng_tell(const rng *r);
void rng_seek(rng *r, uint64_t position);

void rng_bytes(rng *r, void *out, size_t n);
uint64_t rng_uint64(rng *r);
/* Uniform double in [0, 1) with 53 random bits (k * 2^-53). */
double rng_uniform(rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal by Box-Muller (fast; for initialisation and synthetic data, not DP noise). */
double rng_gaussian(rng *r);
/* Standard normal for DP noise: (z1 + z2 + z3 + z4) / 2 of four independent Box-Muller
 * normals (docs/maths.md 4.8). A single Box-Muller output only takes values in a sparse,
 * structured set of doubles, so the low bits of value + noise can reveal the value; the sum of
 * four draws fills the floating-point grid densely (Holohan & Braghin 2021), as opacus does in
 * secure mode. Variance is 4/4 = 1. */
double rng_gaussian_secure(rng *r);
/* The value rng_gaussian_secure makes of its 32 keystream bytes (common/rng_gaussian.c: log,
 * sin and cos by its own polynomials, the same bits on every CPU and vector width). */
double rng_gaussian_secure_of(const uint8_t bytes[32]);
/* out[i] = std * rng_gaussian_secure(r) for i < n (float32 for parameter-sized noise). */
void rng_fill_gaussian_secure(rng *r, float *out, size_t n, double std);
/* Keystream bytes each rng_gaussian_secure value consumes. */
#define RNG_GAUSSIAN_SECURE_BYTES 32
/* out[i] += std * rng_gaussian_secure(r) for i < n: the same values, in the same order, as n
 * sequential calls (and the generator ends at the same position), computed in parallel. */
void rng_add_gaussian_secure(rng *r, float *out, size_t n, double std);
/* Fisher-Yates shuffle of a permutation of size n. */
void rng_shuffle_indices(rng *r, size_t *indices, size_t n);

#endif
