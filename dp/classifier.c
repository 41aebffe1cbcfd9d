/* dp_classifier for a dp model on its own input: logits by dp_model_forward, input
 * gradients by dp_model_input_gradient (which needs the forward of the same batch). */
#include "dp/dp.h"

#include <string.h>

static int model_logits(void *user, const float *x, size_t n, float *logits, dpkit_error *err)
{
    const dp_model_classifier *m = user;
    if (n > m->ws->max_batch)
        return error_set(err, "batch of %zu inputs, workspace holds %zu", n, m->ws->max_batch);
    dp_model_forward(m->model, m->ws, x, n);
    memcpy(logits, m->ws->activations[m->model->layer_count],
           n * m->model->class_count * sizeof *logits);
    return 0;
}

static int model_input_gradient(void *user, const float *x, size_t n, const float *grad_logits,
                                float *grad_x, dpkit_error *err)
{
    const dp_model_classifier *m = user;
    if (n > m->ws->max_batch)
        return error_set(err, "batch of %zu inputs, workspace holds %zu", n, m->ws->max_batch);
    dp_model_forward(m->model, m->ws, x, n);
    return dp_model_input_gradient(m->model, m->ws, x, n, grad_logits, grad_x, err);
}

void dp_classifier_of_model(dp_model_classifier *model, dp_classifier *out)
{
    *out = (dp_classifier){.input_size = dp_shape_size(model->model->input),
                               .class_count = model->model->class_count,
                               .max_batch = model->ws->max_batch,
                               .logits = model_logits,
                               .input_gradient = model_input_gradient,
                               .user = model};
}
