/*
 * ops.h: what each op computes, forward and backward side by side.
 *
 * Pure functions of doubles, shared by the eager graph (ops.c, graph.c) and
 * anything else that replays ops, so every path does the same arithmetic in
 * the same order. IEEE throughout, as PyTorch float64: no op raises; log(0) is
 * -inf, overflow is inf, NaN propagates. Where micrograd has the op, forward
 * and backward are micrograd's arithmetic; the others follow PyTorch.
 */
#ifndef MICROGRADC_OPS_H
#define MICROGRADC_OPS_H

#include <math.h>
#include <stdint.h>

#include "microgradc.h"

/* ----------------------------------------------------------------------------
 * forward: out = op(a, b); for MGC_POW, b is the constant exponent */

static inline double mgc__forward(int op, double a, double b) {
    switch (op) {
    case MGC_ADD: return a + b;
    case MGC_MUL: return a * b;
    case MGC_SUB: return a - b;
    case MGC_DIV: return a / b;
    case MGC_NEG: return -a;
    case MGC_POW:
    case MGC_POWV: return pow(a, b);
    case MGC_RELU: return a < 0 ? 0.0 : a;            /* micrograd keeps NaN and -0.0 */
    case MGC_TANH: return tanh(a);                     /* no exp(2a) overflow */
    case MGC_EXP: return exp(a);
    case MGC_LOG: return log(a);
    case MGC_SIGMOID: return 1.0 / (1.0 + exp(-a));   /* exp(1000) = inf gives 0 */
    case MGC_SOFTMAX: return exp(a - b);               /* b = logsumexp of a's row */
    default: return 0.0;
    }
}

/* ----------------------------------------------------------------------------
 * backward: given out = op(a, b) and g = d(root)/d(out), accumulate
 * d(root)/d(a) into *ga and d(root)/d(b) into *gb (they may be the same) */

static inline void mgc__backward(int op, double a, double b, double out, double g,
                                 double *ga, double *gb) {
    switch (op) {
    case MGC_ADD:
        *ga += g;
        *gb += g;
        break;
    case MGC_MUL:
        *ga += b * g;
        *gb += a * g;
        break;
    case MGC_SUB:
        *ga += g;
        *gb += -g;
        break;
    case MGC_DIV:
        /* in the forward pass this was out = a / b; torch's -g * ((a / b) / b) */
        *ga += g / b;
        *gb += -g * (out / b);
        break;
    case MGC_NEG:
        *ga += -g;
        break;
    case MGC_POW:
        /* b is the constant k, which gets no grad. micrograd: (k * a**(k-1)) * g;
         * torch: k = 0 gives 0. pow(a, 1.0) == a exactly, so k = 2 needs no call */
        if (b == 2.0) *ga += (2.0 * a) * g;
        else if (b != 0.0) *ga += (b * pow(a, b - 1.0)) * g;
        break;
    case MGC_POWV:
        if (b != 0.0) *ga += g * (b * pow(a, b - 1.0));
        /* d/db a^b = a^b ln a, taken as 0 where a == 0 and b >= 0 (torch) */
        if (!(a == 0.0 && b >= 0.0)) *gb += g * (out * log(a));
        break;
    case MGC_RELU:
        /* torch's select: out <= 0 passes nothing back (not even a NaN or inf g),
         * a NaN out passes g back */
        if (!(out <= 0)) *ga += g;
        break;
    case MGC_TANH:
        *ga += (1.0 - out * out) * g;
        break;
    case MGC_EXP:
        *ga += out * g;
        break;
    case MGC_LOG:
        *ga += g / a;
        break;
    case MGC_SIGMOID:
        *ga += g * (1.0 - out) * out;
        break;
    case MGC_SOFTMAX:
        /* out = exp(a - b): the logsumexp b passes -out * g on to the whole row */
        *ga += out * g;
        *gb += -(out * g);
        break;
    default:
        break;
    }
}

/* ----------------------------------------------------------------------------
 * select: the row a child's data names, when it names one */

/* whether k is an integer in [0, rows); then *row = k */
static inline int mgc__select_row(double k, uint32_t rows, uint32_t *row) {
    if (!(k >= 0.0 && k < (double)rows) || k != floor(k)) return 0;
    *row = (uint32_t)k;
    return 1;
}

/* ----------------------------------------------------------------------------
 * dot: weights w[0..n), then the bias w[n] when has_bias, and inputs x[0..n).
 * slot(ctx, child, 0) and slot(ctx, child, 1) are a child's value and grad,
 * wherever the graph keeps them (the arena, a tape); inlined at each use. */

typedef double *(*mgc_slot_fn)(void *ctx, uint32_t child, int grad);

static inline double mgc__dot_forward(const uint32_t *w, const uint32_t *x, uint32_t n,
                                      int has_bias, mgc_slot_fn slot, void *ctx) {
    double sum = has_bias ? *slot(ctx, w[n], 0) : 0.0;
    for (uint32_t i = 0; i < n; i++) sum = sum + *slot(ctx, w[i], 0) * *slot(ctx, x[i], 0);
    return sum;
}

/* in the forward pass this was bias + sum of w[i] * x[i], as micrograd's
 * products and additions, so each product's rule passes g along */
static inline void mgc__dot_backward(const uint32_t *w, const uint32_t *x, uint32_t n,
                                     int has_bias, double g, mgc_slot_fn slot, void *ctx) {
    for (uint32_t i = 0; i < n; i++) {
        *slot(ctx, w[i], 1) += *slot(ctx, x[i], 0) * g;
        *slot(ctx, x[i], 1) += *slot(ctx, w[i], 0) * g;
    }
    if (has_bias) *slot(ctx, w[n], 1) += g;
}

#endif
