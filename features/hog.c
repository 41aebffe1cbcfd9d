/* HOG features, bit for bit scikit-image 0.19.3 skimage.feature.hog (docs/maths.md section 8):
 * centred gradients, hard orientation bins, float32 cell means, pairwise-summed block norms. */
#include "features/features.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The reference rounds every product before summing (docs/maths.md 8.6); a fused multiply-add
 * would change the last bit. gcc in ISO C mode already contracts nothing; clang needs this. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Double 180/pi as numpy's rad2deg multiplies by it (docs/maths.md 8.3). */
#define HOG_DEGREES_PER_RADIAN 57.29577951308232
#define HOG_EPS 1e-5

/* The geometry of one HOG computation, derived once from the parameters and the image size. */
typedef struct hog_geometry {
    size_t channels, height, width;
    size_t cells_r, cells_c;   /* n_cells (docs/maths.md 8.1) */
    size_t blocks_r, blocks_c; /* n_blocks */
    size_t block_length;       /* K = b_r * b_c * n */
    size_t size;               /* feature length */
} hog_geometry;

void features_hog_params_default(features_hog_params *params)
{
    params->orientations = 9;
    params->cell_rows = 8;
    params->cell_cols = 8;
    params->block_rows = 3;
    params->block_cols = 3;
    params->block_norm = FEATURES_HOG_L2_HYS;
}

static const char *const block_norm_names[] = {"L1", "L1-sqrt", "L2", "L2-Hys"};

int features_hog_block_norm_parse(const char *text, features_hog_block_norm *norm,
                                  dpkit_error *err)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcmp(text, block_norm_names[i]) == 0) {
            *norm = (features_hog_block_norm)i;
            return 0;
        }
    }
    return error_set(err, "HOG block_norm '%s': expected L1, L1-sqrt, L2 or L2-Hys",
                     text ? text : "(null)");
}

const char *features_hog_block_norm_name(features_hog_block_norm norm)
{
    return (unsigned)norm < 4 ? block_norm_names[norm] : "unknown";
}

static int hog_geometry_make(const features_hog_params *p, size_t channels, size_t height,
                             size_t width, hog_geometry *g, dpkit_error *err)
{
    if (!p)
        return error_set(err, "HOG: no parameters given");
    if (p->orientations < 1)
        return error_set(err, "HOG orientations = %d: expected at least 1", p->orientations);
    if (p->cell_rows < 1 || p->cell_cols < 1)
        return error_set(err, "HOG pixels_per_cell = %d x %d: expected both at least 1",
                         p->cell_rows, p->cell_cols);
    if (p->block_rows < 1 || p->block_cols < 1)
        return error_set(err, "HOG cells_per_block = %d x %d: expected both at least 1",
                         p->block_rows, p->block_cols);
    if ((unsigned)p->block_norm >= 4)
        return error_set(err, "HOG block_norm = %d: expected L1, L1-sqrt, L2 or L2-Hys",
                         (int)p->block_norm);
    if (channels < 1)
        return error_set(err, "HOG: image has 0 channels: expected at least 1");
    /* Cell areas are divided in float (docs/maths.md 8.5) and pixel counts must fit an int. */
    if ((long long)p->cell_rows * p->cell_cols > (1LL << 24))
        return error_set(err, "HOG pixels_per_cell = %d x %d: more than 2^24 pixels per cell",
                         p->cell_rows, p->cell_cols);
    if (height > INT_MAX || width > INT_MAX || channels > INT_MAX ||
        height * width > SIZE_MAX / channels / sizeof(double))
        return error_set(err, "HOG image size %zu x %zu x %zu: too large", channels, height,
                         width);
    g->channels = channels;
    g->height = height;
    g->width = width;
    g->cells_r = height / (size_t)p->cell_rows;
    g->cells_c = width / (size_t)p->cell_cols;
    if (g->cells_r < (size_t)p->block_rows || g->cells_c < (size_t)p->block_cols)
        return error_set(err,
                         "HOG image %zu x %zu is smaller than one block of %d x %d cells of "
                         "%d x %d pixels: expected at least %lld x %lld pixels",
                         height, width, p->block_rows, p->block_cols, p->cell_rows, p->cell_cols,
                         (long long)p->block_rows * p->cell_rows,
                         (long long)p->block_cols * p->cell_cols);
    g->blocks_r = g->cells_r - (size_t)p->block_rows + 1;
    g->blocks_c = g->cells_c - (size_t)p->block_cols + 1;
    g->block_length = (size_t)p->block_rows * (size_t)p->block_cols * (size_t)p->orientations;
    /* Every factor is bounded by the pixel count, so only the final product can overflow. */
    if (g->blocks_r * g->blocks_c > SIZE_MAX / g->block_length / sizeof(double))
        return error_set(err, "HOG feature length for %zu x %zu images: too large", height, width);
    g->size = g->blocks_r * g->blocks_c * g->block_length;
    return 0;
}

int features_hog_output_size(const features_hog_params *params, size_t height, size_t width,
                             size_t *size, dpkit_error *err)
{
    hog_geometry g;
    if (hog_geometry_make(params, 1, height, width, &g, err) < 0)
        return -1;
    *size = g.size;
    return 0;
}

/* Centred differences without the 1/2, each component zero on its own image border
 * (docs/maths.md 8.2). For several channels, the gradient of the channel with the largest
 * magnitude (first on ties, as numpy's argmax). */
static void hog_gradient(const double *image, const hog_geometry *g, size_t r, size_t c,
                         double *grad_r, double *grad_c)
{
    size_t plane = g->height * g->width;
    double best_magnitude = 0.0;
    *grad_r = 0.0;
    *grad_c = 0.0;
    for (size_t ch = 0; ch < g->channels; ch++) {
        const double *x = image + ch * plane;
        double gr = 0.0, gc = 0.0;
        if (r >= 1 && r + 1 < g->height)
            gr = x[(r + 1) * g->width + c] - x[(r - 1) * g->width + c];
        if (c >= 1 && c + 1 < g->width)
            gc = x[r * g->width + c + 1] - x[r * g->width + c - 1];
        if (g->channels == 1) {
            *grad_r = gr;
            *grad_c = gc;
            return;
        }
        double magnitude = hypot(gr, gc);
        /* numpy's argmax: the first maximum, and a NaN counts as the maximum. */
        if (ch == 0 ||
            (!isnan(best_magnitude) && (isnan(magnitude) || magnitude > best_magnitude))) {
            best_magnitude = magnitude;
            *grad_r = gr;
            *grad_c = gc;
        }
    }
}

/* The bin of an unsigned orientation in degrees, compared against the very doubles
 * B_i = (180/n) * i skimage compares with; n (no bin) for o outside [B_0, B_n) (docs/maths.md 8.4:
 * o = 180.0 exactly is dropped, and B_i may miss 45/90/135 by an ulp for some n). */
static int hog_bin(double o, int n)
{
    double w = 180.0 / n;
    double q = o / w;
    int i = q >= (double)n ? n : (int)q;
    while (i > 0 && o < w * i)
        i--;
    while (i < n && o >= w * (i + 1))
        i++;
    return i;
}

/* Cell histograms H (cells_r, cells_c, n) as float32 means (docs/maths.md 8.5). Visiting pixels in
 * row-major order adds to each (cell, bin) accumulator in exactly the order of skimage's
 * per-bin loops, rows outer and columns inner. */
static void hog_cell_histograms(const double *image, const hog_geometry *g,
                                const features_hog_params *p, float *hist)
{
    int n = p->orientations;
    size_t cells = g->cells_r * g->cells_c * (size_t)n;
    memset(hist, 0, cells * sizeof *hist);
    size_t used_rows = g->cells_r * (size_t)p->cell_rows;
    size_t used_cols = g->cells_c * (size_t)p->cell_cols;
    for (size_t r = 0; r < used_rows; r++) {
        float *row_cells = hist + (r / (size_t)p->cell_rows) * g->cells_c * (size_t)n;
        for (size_t c = 0; c < used_cols; c++) {
            double gr, gc;
            hog_gradient(image, g, r, c, &gr, &gc);
            double magnitude = hypot(gc, gr);
            double o = fmod(atan2(gr, gc) * HOG_DEGREES_PER_RADIAN, 180.0);
            if (o < 0)
                o += 180.0;
            float *cell = row_cells + (c / (size_t)p->cell_cols) * (size_t)n;
            if (isnan(o)) {
                /* NaN fails both of skimage's skip comparisons: it votes into every bin. */
                for (int i = 0; i < n; i++)
                    cell[i] += magnitude;
                continue;
            }
            int bin = hog_bin(o, n);
            if (bin < n)
                cell[bin] += magnitude; /* float += double: fl32((double)acc + mag) */
        }
    }
    float area = (float)(p->cell_rows * p->cell_cols);
    for (size_t k = 0; k < cells; k++)
        hist[k] = hist[k] / area;
}

/* numpy's pairwise summation of a contiguous double array (docs/maths.md 8.6), which np.sum uses;
 * it differs from a left-to-right sum in the last bit. */
static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double s = 0.0;
        for (size_t k = 0; k < n; k++)
            s += a[k];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        size_t k;
        for (k = 8; k < n - n % 8; k += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[k + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; k < n; k++)
            s += a[k];
        return s;
    }
    size_t m = n / 2;
    m -= m % 8;
    return pairwise_sum(a, m) + pairwise_sum(a + m, n - m);
}

static double squares_sum(const double *v, double *scratch, size_t n)
{
    for (size_t k = 0; k < n; k++)
        scratch[k] = v[k] * v[k];
    return 0.0 + pairwise_sum(scratch, n);
}

/* NaN propagates like numpy's minimum: a NaN value stays NaN (fmin would drop it). */
static inline double nan_aware_min(double x, double y)
{
    return isnan(x) ? x : (x < y ? x : y);
}

/* Normalises one block in place (docs/maths.md 8.6); v holds K float32-valued doubles >= 0. */
static void hog_normalize_block(double *v, double *scratch, size_t n,
                                features_hog_block_norm norm)
{
    const double eps2 = HOG_EPS * HOG_EPS; /* 1.0000000000000002e-10, not the literal 1e-10 */
    switch (norm) {
    case FEATURES_HOG_L1:
    case FEATURES_HOG_L1_SQRT: {
        for (size_t k = 0; k < n; k++)
            scratch[k] = fabs(v[k]);
        double denominator = (0.0 + pairwise_sum(scratch, n)) + HOG_EPS;
        for (size_t k = 0; k < n; k++)
            v[k] = norm == FEATURES_HOG_L1 ? v[k] / denominator : sqrt(v[k] / denominator);
        break;
    }
    case FEATURES_HOG_L2:
    case FEATURES_HOG_L2_HYS: {
        double denominator = sqrt(squares_sum(v, scratch, n) + eps2);
        for (size_t k = 0; k < n; k++)
            v[k] = v[k] / denominator;
        if (norm == FEATURES_HOG_L2)
            break;
        for (size_t k = 0; k < n; k++)
            v[k] = nan_aware_min(v[k], 0.2);
        denominator = sqrt(squares_sum(v, scratch, n) + eps2);
        for (size_t k = 0; k < n; k++)
            v[k] = v[k] / denominator;
        break;
    }
    }
}

/* The feature vector of one double image into out (g->size doubles), layout docs/maths.md 8.7.
 * hist: cells_r * cells_c * n floats; block, scratch: K doubles each. */
static void hog_image(const double *image, const hog_geometry *g, const features_hog_params *p,
                      float *hist, double *block, double *scratch, double *out)
{
    hog_cell_histograms(image, g, p, hist);
    size_t n = (size_t)p->orientations;
    size_t K = g->block_length;
    for (size_t R = 0; R < g->blocks_r; R++) {
        for (size_t C = 0; C < g->blocks_c; C++) {
            size_t k = 0;
            for (size_t a = 0; a < (size_t)p->block_rows; a++)
                for (size_t b = 0; b < (size_t)p->block_cols; b++)
                    for (size_t i = 0; i < n; i++)
                        block[k++] = hist[((R + a) * g->cells_c + C + b) * n + i];
            hog_normalize_block(block, scratch, K, p->block_norm);
            memcpy(out + (R * g->blocks_c + C) * K, block, K * sizeof *block);
        }
    }
}

typedef enum { HOG_FLOAT32, HOG_FLOAT64 } hog_type;

/* The batch driver: images of type in_type, output of type out_type; one workspace per thread,
 * allocated before the loop over images. */
static int hog_batch(const features_hog_params *p, const void *images, hog_type in_type,
                     size_t count, size_t channels, size_t height, size_t width, void *out,
                     hog_type out_type, dpkit_error *err)
{
    hog_geometry g;
    if (hog_geometry_make(p, channels, height, width, &g, err) < 0)
        return -1;
    if (count > 0 && (!images || !out))
        return error_set(err, "HOG: NULL image or output array for %zu images", count);
    size_t pixels = channels * height * width;
    size_t hist_length = g.cells_r * g.cells_c * (size_t)p->orientations;
    int failed = 0;
#pragma omp parallel if (count > 1)
    {
        double *image = malloc(pixels * sizeof *image);
        float *hist = malloc(hist_length * sizeof *hist);
        double *block = malloc(g.block_length * sizeof *block);
        double *scratch = malloc(g.block_length * sizeof *scratch);
        double *feature = malloc(g.size * sizeof *feature);
        int ok = image && hist && block && scratch && feature;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (size_t e = 0; e < count; e++) {
            if (!ok)
                continue;
            if (in_type == HOG_FLOAT32) {
                const float *x = (const float *)images + e * pixels;
                for (size_t k = 0; k < pixels; k++)
                    image[k] = x[k];
            } else {
                memcpy(image, (const double *)images + e * pixels, pixels * sizeof *image);
            }
            hog_image(image, &g, p, hist, block, scratch, feature);
            if (out_type == HOG_FLOAT32) {
                float *y = (float *)out + e * g.size;
                for (size_t k = 0; k < g.size; k++)
                    y[k] = (float)feature[k];
            } else {
                memcpy((double *)out + e * g.size, feature, g.size * sizeof *feature);
            }
        }
        free(image);
        free(hist);
        free(block);
        free(scratch);
        free(feature);
    }
    if (failed)
        return error_set(err, "HOG: out of memory for the workspace of %zu x %zu images", height,
                         width);
    return 0;
}

int features_hog(const features_hog_params *params, const float *images, size_t count,
                 size_t channels, size_t height, size_t width, float *out, dpkit_error *err)
{
    return hog_batch(params, images, HOG_FLOAT32, count, channels, height, width, out,
                     HOG_FLOAT32, err);
}

int features_hog_f64(const features_hog_params *params, const double *images, size_t count,
                     size_t channels, size_t height, size_t width, float *out, dpkit_error *err)
{
    return hog_batch(params, images, HOG_FLOAT64, count, channels, height, width, out,
                     HOG_FLOAT32, err);
}

int features_hog_f64_exact(const features_hog_params *params, const double *images,
                           size_t count, size_t channels, size_t height, size_t width,
                           double *out, dpkit_error *err)
{
    return hog_batch(params, images, HOG_FLOAT64, count, channels, height, width, out,
                     HOG_FLOAT64, err);
}
