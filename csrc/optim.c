/*
 * optim.c: optimizer steps over arrays of parameter ids, one call a step.
 *
 * The arithmetic is torch.optim's for the same settings (single-tensor CPU
 * path), operation for operation, so the numbers match PyTorch float64. The
 * state (momentum buffers, Adam moments, step counts) is owned by the caller,
 * one entry a parameter, and survives between calls.
 *
 * Parameters made in a row have consecutive ids, so their values and grads are
 * runs of the arena's arrays: each call goes run by run, and a run's loop is
 * plain arrays the compiler vectorizes. Every element is still computed by the
 * same operations in the same order, so a run gives the bits one id at a time
 * would.
 */
#include <math.h>
#include <string.h>

#include "internal.h"

/* how many parameters from the first on (at most count) have consecutive ids within
 * one chunk and, unless steps is NULL, the first one's step count */
MGC_VECTOR static size_t run_length(const mgc_id *ids, const uint64_t *steps, size_t count) {
    mgc_id first = ids[0];
    uint64_t step = steps ? steps[0] : 0;
    size_t room = MGC_CHUNK_NODES - (first & (MGC_CHUNK_NODES - 1)), n = 0;
    size_t most = count < room ? count : room;
    for (; n + 64 <= most; n += 64) {  /* 64 at a time, with no branch inside */
        uint32_t bad = 0;
        uint64_t other = 0;
        for (uint32_t k = 0; k < 64; k++) bad |= ids[n + k] ^ (first + (uint32_t)n + k);
        if (steps)
            for (uint32_t k = 0; k < 64; k++) other |= steps[n + k] ^ step;
        if (bad | other) break;
    }
    while (n < most && ids[n] == first + n && (!steps || steps[n] == step)) n++;
    return n;
}

/* clears the int-data bits of ids first ... first + n - 1 (one chunk) */
static void clear_int_data(mgc_id first, size_t n) {
    while (n) {
        uint64_t *word = mgc__int_data_word(first);
        uint32_t at = first % 64, take = 64 - at < n ? 64 - at : (uint32_t)n;
        *word &= ~((take == 64 ? ~0ull : (1ull << take) - 1) << at);
        first += take;
        n -= take;
    }
}

void mgc_zero_grad(const mgc_id *ids, size_t count) {
    mgc__lock();
    for (size_t i = 0, n; i < count; i += n) {
        n = run_length(ids + i, NULL, count - i);
        memset(mgc__grad(ids[i]), 0, n * sizeof(double));
    }
    mgc__unlock();
}

void mgc_zero_grad_runs(const mgc_id *ids, const uint32_t *runs, size_t run_count) {
    mgc__lock();
    for (size_t r = 0, i = 0; r < run_count; i += runs[r++])
        memset(mgc__grad(ids[i]), 0, runs[r] * sizeof(double));
    mgc__unlock();
}

size_t mgc_param_runs(const mgc_id *ids, const uint64_t *steps, size_t count, uint32_t *runs) {
    size_t run_count = 0;
    for (size_t i = 0, n; i < count; i += n) {
        n = run_length(ids + i, steps + i, count - i);
        runs[run_count++] = (uint32_t)n;
    }
    return run_count;
}

/* SGD on a run of n parameters at one step count; decay and momentum, and whether it
 * is their first step, are constants in each copy sgd_run makes */
static inline __attribute__((always_inline)) void sgd_loop(
    double *restrict data, const double *restrict grad, double *restrict velocity, size_t n,
    double lr, double momentum, double wd, int decay, int with_momentum, int first) {
    for (size_t i = 0; i < n; i++) {
        double d_p = decay ? grad[i] + wd * data[i] : grad[i];
        if (with_momentum) {
            /* a parameter's first step starts its buffer at d_p; later ones decay it */
            velocity[i] = first ? d_p : velocity[i] * momentum + d_p;
            d_p = velocity[i];
        }
        data[i] = data[i] + -lr * d_p;
    }
}

MGC_VECTOR static void sgd_run(double *restrict data, const double *restrict grad,
                               double *restrict velocity, size_t n, double lr, double momentum,
                               double wd, int first) {
    if (momentum == 0.0 && wd == 0.0) sgd_loop(data, grad, velocity, n, lr, momentum, wd, 0, 0, 0);
    else if (momentum == 0.0) sgd_loop(data, grad, velocity, n, lr, momentum, wd, 1, 0, 0);
    else if (first && wd == 0.0) sgd_loop(data, grad, velocity, n, lr, momentum, wd, 0, 1, 1);
    else if (first) sgd_loop(data, grad, velocity, n, lr, momentum, wd, 1, 1, 1);
    else if (wd == 0.0) sgd_loop(data, grad, velocity, n, lr, momentum, wd, 0, 1, 0);
    else sgd_loop(data, grad, velocity, n, lr, momentum, wd, 1, 1, 0);
}

void mgc_sgd_step(const mgc_id *ids, const uint32_t *runs, size_t run_count, double lr,
                  double momentum, double weight_decay, double *velocity, uint64_t *steps) {
    mgc__lock();
    for (size_t r = 0, i = 0; r < run_count; i += runs[r++]) {
        sgd_run(mgc__data(ids[i]), mgc__grad(ids[i]), velocity + i, runs[r], lr, momentum,
                weight_decay, steps[i] == 0);
        for (uint64_t *k = steps + i, *end = k + runs[r]; k < end; k++) ++*k;
        clear_int_data(ids[i], runs[r]);
    }
    mgc__unlock();
}

/* the constants of one Adam step: for parameters at the same step count */
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    double step_size, bias_correction2_sqrt;
} adam_step;

/* Adam on n parameters whose values, grads and moments are arrays; decay and low
 * are constants in each copy adam_run makes, so the loop has no branch in it */
static inline __attribute__((always_inline)) void adam_loop(
    const adam_step *a, double *restrict data, const double *restrict grad, double *restrict m,
    double *restrict v, uint64_t *restrict steps, size_t n, int decay, int low) {
    double weight = 1.0 - a->beta1, beta2 = a->beta2, wd = a->weight_decay;
    double step_size = a->step_size, bc2 = a->bias_correction2_sqrt, eps = a->eps;
    for (size_t i = 0; i < n; i++) {
        double g = decay ? grad[i] + wd * data[i] : grad[i];
        /* torch's lerp: m + w * (g - m) for w < 0.5, else g - (g - m) * (1 - w) */
        m[i] = low ? m[i] + weight * (g - m[i]) : g - (g - m[i]) * (1.0 - weight);
        v[i] = v[i] * beta2 + (1.0 - beta2) * g * g;
        double denom = sqrt(v[i]) / bc2 + eps;
        data[i] = data[i] + -step_size * m[i] / denom;
        steps[i] = steps[i] + 1;
    }
}

MGC_VECTOR static void adam_run(const adam_step *a, double *restrict data,
                                const double *restrict grad, double *restrict m,
                                double *restrict v, uint64_t *restrict steps, size_t n) {
    int decay = a->weight_decay != 0.0, low = 1.0 - a->beta1 < 0.5;
    if (decay && low) adam_loop(a, data, grad, m, v, steps, n, 1, 1);
    else if (decay) adam_loop(a, data, grad, m, v, steps, n, 1, 0);
    else if (low) adam_loop(a, data, grad, m, v, steps, n, 0, 1);
    else adam_loop(a, data, grad, m, v, steps, n, 0, 0);
}

void mgc_adam_step(const mgc_id *ids, const uint32_t *runs, size_t run_count, double lr,
                   double beta1, double beta2, double eps, double weight_decay, double *m,
                   double *v, uint64_t *steps) {
    adam_step a = {lr, beta1, beta2, eps, weight_decay, 0.0, 0.0};
    uint64_t corrected_for = 0;  /* the step count the corrections were computed for */
    mgc__lock();
    for (size_t r = 0, i = 0; r < run_count; i += runs[r++]) {
        uint64_t step = steps[i] + 1;
        if (step != corrected_for) {
            a.step_size = lr / (1.0 - pow(beta1, (double)step));
            a.bias_correction2_sqrt = sqrt(1.0 - pow(beta2, (double)step));
            corrected_for = step;
        }
        adam_run(&a, mgc__data(ids[i]), mgc__grad(ids[i]), m + i, v + i, steps + i, runs[r]);
        clear_int_data(ids[i], runs[r]);
    }
    mgc__unlock();
}
