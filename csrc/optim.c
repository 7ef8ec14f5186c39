/*
 * optim.c: optimizer steps over arrays of parameter ids, one call a step.
 *
 * The arithmetic is torch.optim's for the same settings (single-tensor CPU
 * path), operation for operation, so the numbers match PyTorch float64. The
 * state (momentum buffers, Adam moments, step counts) is owned by the caller,
 * one entry a parameter, and survives between calls.
 */
#include <math.h>

#include "internal.h"

void mgc_zero_grad(const mgc_id *ids, size_t count) {
    mgc__lock();
    for (size_t i = 0; i < count; i++) mgc__node(ids[i])->grad = 0.0;
    mgc__unlock();
}

void mgc_sgd_step(const mgc_id *ids, size_t count, double lr, double momentum,
                  double weight_decay, double *velocity, uint64_t *steps) {
    mgc__lock();
    for (size_t i = 0; i < count; i++) {
        mgc_node *p = mgc__node(ids[i]);
        double d_p = weight_decay != 0.0 ? p->grad + weight_decay * p->data : p->grad;
        if (momentum != 0.0) {
            /* a parameter's first step starts its buffer at d_p; later ones decay it */
            velocity[i] = steps[i] == 0 ? d_p : velocity[i] * momentum + d_p;
            d_p = velocity[i];
        }
        p->data = p->data + -lr * d_p;
        p->flags &= ~MGC_INT_DATA;
        steps[i]++;
    }
    mgc__unlock();
}

void mgc_adam_step(const mgc_id *ids, size_t count, double lr, double beta1, double beta2,
                   double eps, double weight_decay, double *m, double *v, uint64_t *steps) {
    double weight = 1.0 - beta1, step_size = 0.0, bias_correction2_sqrt = 0.0;
    uint64_t corrected_for = 0;  /* the step count the corrections were computed for */
    mgc__lock();
    for (size_t i = 0; i < count; i++) {
        uint64_t step = ++steps[i];
        if (step != corrected_for) {  /* parameters share their count, but need not */
            step_size = lr / (1.0 - pow(beta1, (double)step));
            bias_correction2_sqrt = sqrt(1.0 - pow(beta2, (double)step));
            corrected_for = step;
        }
        mgc_node *p = mgc__node(ids[i]);
        double g = weight_decay != 0.0 ? p->grad + weight_decay * p->data : p->grad;
        /* torch's lerp: m + w * (g - m) for w < 0.5, else g - (g - m) * (1 - w) */
        m[i] = weight < 0.5 ? m[i] + weight * (g - m[i]) : g - (g - m[i]) * (1.0 - weight);
        v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
        double denom = sqrt(v[i]) / bias_correction2_sqrt + eps;
        p->data = p->data + -step_size * m[i] / denom;
        p->flags &= ~MGC_INT_DATA;
    }
    mgc__unlock();
}
