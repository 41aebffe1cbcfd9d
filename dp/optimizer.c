/* Optimizers applied to the privatised gradient: SGD (momentum, Nesterov, weight decay) and
 * Adam, with PyTorch's update rules (torch.optim.SGD / torch.optim.Adam), and the moving
 * average of the iterates (docs/maths.md 4.16). */
#include "dp/dp.h"

#include "common/memory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dp_optimizer_config_default(dp_optimizer_config *config)
{
    memset(config, 0, sizeof *config);
    config->kind = DP_OPTIMIZER_SGD;
    config->lr = 0.1;
    config->beta1 = 0.9;
    config->beta2 = 0.999;
    config->adam_epsilon = 1e-8;
}

int dp_optimizer_kind_parse(const char *text, dp_optimizer_kind *kind, dpkit_error *err)
{
    if (strcmp(text, "sgd") == 0)
        *kind = DP_OPTIMIZER_SGD;
    else if (strcmp(text, "adam") == 0)
        *kind = DP_OPTIMIZER_ADAM;
    else
        return error_set(err, "optimizer '%s': expected sgd or adam", text);
    return 0;
}

int dp_optimizer_create(const dp_optimizer_config *config, size_t size, dp_optimizer *opt,
                        dpkit_error *err)
{
    memset(opt, 0, sizeof *opt);
    opt->config = *config;
    opt->size = size;
    if (!(config->average_decay >= 0 && config->average_decay < 1))
        return error_set(err, "optimizer: average decay %g, expected 0 <= decay < 1 (0: none)",
                         config->average_decay);
    int needs1 = config->kind == DP_OPTIMIZER_ADAM || config->momentum != 0;
    int needs2 = config->kind == DP_OPTIMIZER_ADAM;
    size_t bytes = (size ? size : 1) * sizeof(float);
    if ((needs1 && !(opt->state1 = calloc(1, bytes))) ||
        (needs2 && !(opt->state2 = calloc(1, bytes))) ||
        (config->average_decay > 0 && !(opt->average = calloc(1, bytes)))) {
        dp_optimizer_free(opt);
        return error_set(err, "optimizer: out of memory");
    }
    return 0;
}

void dp_optimizer_free(dp_optimizer *opt)
{
    MEMORY_FREE_ALL(opt->state1, opt->state2, opt->average);
    opt->state1 = opt->state2 = opt->average = NULL;
}

/* The average starts at the first iterate; the warm-up keeps early, far-off iterates from
 * dominating a long average (De et al. 2022's schedule, docs/maths.md 4.16). */
static void update_average(dp_optimizer *opt, const float *params)
{
    if (!opt->average)
        return;
    double t = (double)opt->steps;
    float d = opt->steps == 1 ? 0.0f : (float)fmin(opt->config.average_decay, (1 + t) / (10 + t));
    float *a = opt->average;
    size_t n = opt->size;
#pragma omp parallel for schedule(static) if (n >= 65536) /* a fork costs more below */
    for (size_t j = 0; j < n; j++)
        a[j] = d * a[j] + (1 - d) * params[j];
}

void dp_optimizer_swap_average(dp_optimizer *opt, float *params)
{
    for (size_t j = 0; opt->average && j < opt->size; j++) {
        float t = params[j];
        params[j] = opt->average[j];
        opt->average[j] = t;
    }
}

void dp_optimizer_step(dp_optimizer *opt, float *params, const float *grad)
{
    const dp_optimizer_config *c = &opt->config;
    size_t n = opt->size;
    opt->steps++;
    if (c->kind == DP_OPTIMIZER_SGD) {
        float lr = (float)c->lr, mu = (float)c->momentum, wd = (float)c->weight_decay;
        float *buf = opt->state1;
        int first = opt->steps == 1;
#pragma omp parallel for schedule(static) if (n >= 65536) /* a fork costs more below */
        for (size_t j = 0; j < n; j++) {
            float g = grad[j] + wd * params[j];
            if (buf) {
                /* torch: the buffer starts as the first gradient (no dampening) */
                buf[j] = first ? g : mu * buf[j] + g;
                g = c->nesterov ? g + mu * buf[j] : buf[j];
            }
            params[j] -= lr * g;
        }
        update_average(opt, params);
        return;
    }
    double b1 = c->beta1, b2 = c->beta2;
    double correction1 = 1.0 - pow(b1, (double)opt->steps);
    double correction2 = 1.0 - pow(b2, (double)opt->steps);
    double step_size = c->lr / correction1, root2 = sqrt(correction2);
    float *m = opt->state1, *v = opt->state2;
#pragma omp parallel for schedule(static) if (n >= 65536) /* a fork costs more below */
    for (size_t j = 0; j < n; j++) {
        double g = (double)grad[j] + c->weight_decay * params[j];
        m[j] = (float)(b1 * m[j] + (1.0 - b1) * g);
        v[j] = (float)(b2 * v[j] + (1.0 - b2) * g * g);
        double denominator = sqrt((double)v[j]) / root2 + c->adam_epsilon;
        params[j] -= (float)(step_size * m[j] / denominator);
    }
    update_average(opt, params);
}
