/* The scattering transform in the public interface (dpkit.h): an opaque handle over a
 * scatter_plan, so bindings (Python's dpkit.Scattering2D) can run Kymatio's Scattering2D. */
#include "scatter/scatter.h"

#include <stdlib.h>

struct dpkit_scattering {
    scatter_plan *plan;
    int J, L, max_order;
};

DPKIT_API dpkit_scattering *dpkit_scattering_create(int J, int L, int max_order, size_t height,
                                                    size_t width, int threads, int planning,
                                                    dpkit_error *err)
{
    if (threads < 0) {
        error_set(err, "scattering: threads %d, expected 0 (all) or a positive count", threads);
        return NULL;
    }
    if (planning < DPKIT_PLAN_ESTIMATE || planning > DPKIT_PLAN_PATIENT) {
        error_set(err, "scattering: planning %d, expected 0 (estimate), 1 (measure) or 2 "
                       "(patient)", planning);
        return NULL;
    }
    dpkit_scattering *s = malloc(sizeof *s);
    if (!s) {
        error_set(err, "scattering: out of memory");
        return NULL;
    }
    scatter_options options = scatter_default_options();
    options.threads = threads;
    options.planning = (scatter_planning)planning;
    if (scatter_plan_create(J, L, max_order, height, width, &options, &s->plan, err)) {
        free(s);
        return NULL;
    }
    s->J = J;
    s->L = L;
    s->max_order = max_order;
    return s;
}

DPKIT_API void dpkit_scattering_free(dpkit_scattering *s)
{
    if (!s)
        return;
    scatter_plan_free(s->plan);
    free(s);
}

DPKIT_API void dpkit_scattering_output_shape(const dpkit_scattering *s, size_t *channels,
                                             size_t *height, size_t *width)
{
    *channels = s ? scatter_plan_channels(s->plan) : 0;
    *height = s ? scatter_plan_output_height(s->plan) : 0;
    *width = s ? scatter_plan_output_width(s->plan) : 0;
}

DPKIT_API int dpkit_scattering_execute(dpkit_scattering *s, size_t count, const float *images,
                                       float *out, dpkit_error *err)
{
    if (!s)
        return error_set(err, "scattering: NULL plan");
    if (count > 0 && (!images || !out))
        return error_set(err, "scattering: NULL images or output for %zu images", count);
    return scatter_execute(s->plan, count, images, out, err);
}

DPKIT_API int dpkit_scattering_channel(const dpkit_scattering *s, size_t k, int *order, int *j1,
                                       int *theta1, int *j2, int *theta2, dpkit_error *err)
{
    if (!s)
        return error_set(err, "scattering: NULL plan");
    return scatter_channel_info(s->J, s->L, s->max_order, k, order, j1, theta1, j2, theta2, err);
}
