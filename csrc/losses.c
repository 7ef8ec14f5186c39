/*
 * losses.c: losses as single n-ary nodes, forward and backward side by side.
 *
 * Each loss is the number its unfused graph would give, one call and one node
 * instead of several per element. Where micrograd's demo or lecture spells the
 * loss out (hinge, l2, mse) the arithmetic follows that spelling, operation for
 * operation, so the fused node is bit-identical to it; the cross-entropies
 * follow PyTorch's stable formulas (no overflow for logits of 1000).
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

static double data(mgc_id id) { return mgc__node(id)->data; }
static double *grad(mgc_id id) { return &mgc__node(id)->grad; }

/* ----------------------------------------------------------------------------
 * mse: sum((p - t)**2), or that sum / n */

static double mse_forward(const mgc_id *p, const mgc_id *t, size_t n, int mean) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum = sum + pow(data(p[i]) - data(t[i]), 2.0);
    return mean ? sum / (double)n : sum;
}

static void mse_backward(const mgc_id *p, const mgc_id *t, size_t n, int mean, double g) {
    /* in the forward pass each term was pow(d, 2) with d = p - t */
    double g_sum = mean ? g / (double)n : g;
    for (size_t i = 0; i < n; i++) {
        double g_d = (2.0 * (data(p[i]) - data(t[i]))) * g_sum;
        *grad(p[i]) += g_d;
        *grad(t[i]) += -g_d;
    }
}

/* ----------------------------------------------------------------------------
 * hinge: micrograd's demo, sum(relu(1 + s * -y)) * (1.0 / n) */

static double hinge_forward(const mgc_id *s, const mgc_id *y, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double margin = 1.0 + data(s[i]) * -data(y[i]);
        sum = sum + (margin < 0 ? 0.0 : margin);
    }
    return sum * (1.0 / (double)n);
}

static void hinge_backward(const mgc_id *s, const mgc_id *y, size_t n, double g) {
    double g_sum = (1.0 / (double)n) * g;
    for (size_t i = 0; i < n; i++) {
        double score = data(s[i]), label = data(y[i]);
        double margin = 1.0 + score * -label;
        if (margin <= 0) continue;  /* relu passes nothing back */
        *grad(s[i]) += -label * g_sum;
        *grad(y[i]) += -(score * g_sum);
    }
}

/* ----------------------------------------------------------------------------
 * l2: sum(p * p) */

static double l2_forward(const mgc_id *p, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum = sum + data(p[i]) * data(p[i]);
    return sum;
}

static void l2_backward(const mgc_id *p, size_t n, double g) {
    for (size_t i = 0; i < n; i++) {
        /* p * p has p as both children: each side adds its share */
        *grad(p[i]) += data(p[i]) * g;
        *grad(p[i]) += data(p[i]) * g;
    }
}

/* ----------------------------------------------------------------------------
 * binary cross-entropy from logits, PyTorch's stable form:
 * max(z, 0) - z * y + log1p(exp(-|z|)), mean over n */

static double bce_forward(const mgc_id *z, const mgc_id *y, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double logit = data(z[i]);
        sum = sum + (fmax(logit, 0.0) - logit * data(y[i]) + log1p(exp(-fabs(logit))));
    }
    return sum / (double)n;
}

static void bce_backward(const mgc_id *z, const mgc_id *y, size_t n, double g) {
    double g_term = g / (double)n;
    for (size_t i = 0; i < n; i++) {
        double logit = data(z[i]);
        double sigmoid = 1.0 / (1.0 + exp(-logit));
        *grad(z[i]) += (sigmoid - data(y[i])) * g_term;
        *grad(y[i]) += -logit * g_term;
    }
}

/* ----------------------------------------------------------------------------
 * softmax cross-entropy, PyTorch's log_softmax then nll: per row,
 * log_softmax[j] = (z[j] - max) - log(sum(exp(z - max))), loss = -log_softmax[target],
 * mean over rows */

/* the row's max, and log(sum(exp(z - max))) in *log_sum */
static double row_shift(const mgc_id *row, size_t classes, double *log_sum) {
    double max = data(row[0]);
    for (size_t j = 1; j < classes; j++) max = fmax(max, data(row[j]));
    double sum = 0.0;
    for (size_t j = 0; j < classes; j++) sum += exp(data(row[j]) - max);
    *log_sum = log(sum);
    return max;
}

static double softmax_ce_forward(const mgc_id *z, size_t rows, size_t classes,
                                 const uint32_t *targets) {
    double total = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const mgc_id *row = z + r * classes;
        double log_sum, max = row_shift(row, classes, &log_sum);
        total += -((data(row[targets[r]]) - max) - log_sum);
    }
    return total / (double)rows;
}

static void softmax_ce_backward(const mgc_id *z, size_t rows, size_t classes,
                                const uint32_t *targets, double g) {
    double g_row = g / (double)rows;
    for (size_t r = 0; r < rows; r++) {
        const mgc_id *row = z + r * classes;
        double log_sum, max = row_shift(row, classes, &log_sum);
        for (size_t j = 0; j < classes; j++) {
            double softmax = exp((data(row[j]) - max) - log_sum);
            *grad(row[j]) += g_row * (softmax - (j == targets[r] ? 1.0 : 0.0));
        }
    }
}

/* ----------------------------------------------------------------------------
 * the loss nodes */

void mgc__loss_backward(const mgc_node *node) {
    const mgc_id *edges = node->in.edges;
    const mgc_id *children = edges + MGC_EDGE_HEADER;
    size_t count = edges[MGC_EDGE_COUNT], half = count / 2;
    double g = node->grad;
    switch (node->op) {
    case MGC_MSE:
        mse_backward(children, children + half, half, node->flags & MGC_MEAN_FLAG, g);
        break;
    case MGC_HINGE: hinge_backward(children, children + half, half, g); break;
    case MGC_L2: l2_backward(children, count, g); break;
    case MGC_BCE: bce_backward(children, children + half, half, g); break;
    case MGC_SOFTMAX_CE: {
        size_t classes = edges[MGC_EDGE_TEXT];
        softmax_ce_backward(children, count / classes, classes, children + count, g);
        break;
    }
    default: break;
    }
}

mgc_id mgc_pair_loss(int op, const mgc_id *a, const mgc_id *b, size_t count, int mean) {
    if (count == 0 || count > UINT32_MAX / 2) return 0;
    mgc_id *children = malloc(2 * count * sizeof(mgc_id));
    if (!children) return 0;
    for (size_t i = 0; i < count; i++) {
        children[i] = a[i];
        children[count + i] = b[i];
    }
    mgc__lock();
    double value = op == MGC_MSE     ? mse_forward(a, b, count, mean)
                 : op == MGC_HINGE   ? hinge_forward(a, b, count)
                                     : bce_forward(a, b, count);
    mgc_id id = mgc__nary(op, value, children, 2 * count, 0);
    if (id && op == MGC_MSE && mean) mgc__node(id)->flags |= MGC_MEAN_FLAG;
    mgc__unlock();
    free(children);
    return id;
}

mgc_id mgc_l2(const mgc_id *p, size_t count) {
    mgc__lock();
    mgc_id id = mgc__nary(MGC_L2, l2_forward(p, count), p, count, 0);
    mgc__unlock();
    return id;
}

mgc_id mgc_softmax_ce(const mgc_id *logits, size_t rows, size_t classes, const uint32_t *targets) {
    if (rows == 0 || classes == 0 || classes > UINT32_MAX / rows) return 0;
    mgc__lock();
    double value = softmax_ce_forward(logits, rows, classes, targets);
    mgc_id id = mgc__nary(MGC_SOFTMAX_CE, value, logits, rows * classes, rows);
    if (id) {
        mgc_id *edges = mgc__node(id)->in.edges;
        edges[MGC_EDGE_TEXT] = (mgc_id)classes;
        for (size_t r = 0; r < rows; r++) edges[MGC_EDGE_HEADER + rows * classes + r] = targets[r];
    }
    mgc__unlock();
    return id;
}
