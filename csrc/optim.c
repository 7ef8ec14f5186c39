/*
 * optim.c: optimizer steps over arrays of parameter ids, one call a step.
 *
 * The arithmetic is torch.optim's for the same settings (single-tensor CPU
 * path), operation for operation, so the numbers match PyTorch float64. The
 * state (momentum buffers, Adam moments) is owned by the caller, one double a
 * parameter, and survives between calls.
 */
#include <math.h>

#include "internal.h"

void mgc_zero_grad(const mgc_id *ids, size_t count) {
    mgc__lock();
    for (size_t i = 0; i < count; i++) mgc__node(ids[i])->grad = 0.0;
    mgc__unlock();
}

void mgc_sgd_step(const mgc_id *ids, size_t count, double lr, double momentum,
                  double weight_decay, double *velocity, uint64_t steps_taken) {
    mgc__lock();
    for (size_t i = 0; i < count; i++) {
        mgc_node *p = mgc__node(ids[i]);
        double d_p = weight_decay != 0.0 ? p->grad + weight_decay * p->data : p->grad;
        if (momentum != 0.0) {
            /* the first step starts the buffer at d_p; later ones decay it */
            velocity[i] = steps_taken == 0 ? d_p : velocity[i] * momentum + d_p;
            d_p = velocity[i];
        }
        p->data = p->data + -lr * d_p;
    }
    mgc__unlock();
}

void mgc_adam_step(const mgc_id *ids, size_t count, double lr, double beta1, double beta2,
                   double eps, double weight_decay, double *m, double *v, uint64_t step) {
    double bias_correction1 = 1.0 - pow(beta1, (double)step);
    double bias_correction2_sqrt = sqrt(1.0 - pow(beta2, (double)step));
    double step_size = lr / bias_correction1;
    double weight = 1.0 - beta1;
    mgc__lock();
    for (size_t i = 0; i < count; i++) {
        mgc_node *p = mgc__node(ids[i]);
        double g = weight_decay != 0.0 ? p->grad + weight_decay * p->data : p->grad;
        /* torch's lerp: m + w * (g - m) for w < 0.5, else g - (g - m) * (1 - w) */
        m[i] = weight < 0.5 ? m[i] + weight * (g - m[i]) : g - (g - m[i]) * (1.0 - weight);
        v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
        double denom = sqrt(v[i]) / bias_correction2_sqrt + eps;
        p->data = p->data + -step_size * m[i] / denom;
    }
    mgc__unlock();
}
