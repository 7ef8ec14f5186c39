/*
 * losses.c: kernels, n-ary nodes over gathered children, forward and backward
 * side by side: the losses, and the shift, logsumexp and select that softmax
 * and embedding lookups are built of (ops.c).
 *
 * The kernels work on the children's values gathered into an array (v) and
 * accumulate into an array of gradients (gv) of the same layout, so the eager
 * graph and a compiled tape share them. Each loss is the number its unfused
 * graph would give: where micrograd's demo or lecture spells the loss out
 * (hinge, l2, mse) the arithmetic follows that spelling operation for
 * operation; the cross-entropies follow PyTorch's stable formulas.
 *
 * Layouts: pair losses (mse, hinge, bce, softmax_ce_probs) take a[0..n) then
 * b[0..n); l2 and logsumexp take p[0..n); softmax_ce takes rows x classes
 * logits, row after row, and softmax_ce_probs as many class probabilities
 * after them; select takes its rows c[0..n) then the index; shift takes z[0..n).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

/* ----------------------------------------------------------------------------
 * mse: sum((p - t)**2), or that sum / n */

static double mse_forward(const double *p, const double *t, size_t n, int mean) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum = sum + pow(p[i] - t[i], 2.0);
    return mean ? sum / (double)n : sum;
}

static void mse_backward(const double *p, const double *t, size_t n, int mean, double g,
                         double *gp, double *gt) {
    /* in the forward pass each term was pow(d, 2) with d = p - t */
    double g_sum = mean ? g / (double)n : g;
    for (size_t i = 0; i < n; i++) {
        double g_d = (2.0 * (p[i] - t[i])) * g_sum;
        gp[i] += g_d;
        gt[i] += -g_d;
    }
}

/* ----------------------------------------------------------------------------
 * hinge: micrograd's demo, sum(relu(1 + s * -y)) * (1.0 / n) */

static double hinge_forward(const double *s, const double *y, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double margin = 1.0 + s[i] * -y[i];
        sum = sum + (margin < 0 ? 0.0 : margin);
    }
    return sum * (1.0 / (double)n);
}

static void hinge_backward(const double *s, const double *y, size_t n, double g, double *gs,
                           double *gy) {
    double g_sum = (1.0 / (double)n) * g;
    for (size_t i = 0; i < n; i++) {
        if (1.0 + s[i] * -y[i] <= 0) continue;  /* relu passes nothing back */
        gs[i] += -y[i] * g_sum;
        gy[i] += -(s[i] * g_sum);
    }
}

/* ----------------------------------------------------------------------------
 * l2: sum(p * p) */

static double l2_forward(const double *p, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum = sum + p[i] * p[i];
    return sum;
}

static void l2_backward(const double *p, size_t n, double g, double *gp) {
    for (size_t i = 0; i < n; i++) {
        /* p * p has p as both children: each side adds its share */
        gp[i] += p[i] * g;
        gp[i] += p[i] * g;
    }
}

/* ----------------------------------------------------------------------------
 * binary cross-entropy from logits, PyTorch's stable form:
 * max(z, 0) - z * y + log1p(exp(-|z|)), mean over n */

static double bce_forward(const double *z, const double *y, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum = sum + (fmax(z[i], 0.0) - z[i] * y[i] + log1p(exp(-fabs(z[i]))));
    return sum / (double)n;
}

static void bce_backward(const double *z, const double *y, size_t n, double g, double *gz,
                         double *gy) {
    double g_term = g / (double)n;
    for (size_t i = 0; i < n; i++) {
        gz[i] += (1.0 / (1.0 + exp(-z[i])) - y[i]) * g_term;
        gy[i] += -z[i] * g_term;
    }
}

/* ----------------------------------------------------------------------------
 * softmax cross-entropy, PyTorch's log_softmax then nll: per row,
 * log_softmax[j] = (z[j] - max) - log(sum(exp(z - max))), loss = -log_softmax[target],
 * mean over rows */

/* the row's max, and log(sum(exp(z - max))) in *log_sum */
static double row_shift(const double *z, size_t classes, double *log_sum) {
    double max = z[0];
    for (size_t j = 1; j < classes; j++) max = fmax(max, z[j]);
    double sum = 0.0;
    for (size_t j = 0; j < classes; j++) sum += exp(z[j] - max);
    *log_sum = log(sum);
    return max;
}

static double softmax_ce_forward(const double *z, size_t rows, size_t classes,
                                 const uint32_t *targets) {
    double total = 0.0;
    for (size_t r = 0; r < rows; r++, z += classes) {
        double log_sum, max = row_shift(z, classes, &log_sum);
        total += -((z[targets[r]] - max) - log_sum);
    }
    return total / (double)rows;
}

static void softmax_ce_backward(const double *z, size_t rows, size_t classes,
                                const uint32_t *targets, double g, double *gz) {
    double g_row = g / (double)rows;
    for (size_t r = 0; r < rows; r++, z += classes, gz += classes) {
        double log_sum, max = row_shift(z, classes, &log_sum);
        for (size_t j = 0; j < classes; j++)
            gz[j] += g_row * (exp((z[j] - max) - log_sum) - (j == targets[r] ? 1.0 : 0.0));
    }
}

/* the same against class probabilities t: per row, -sum(log_softmax * t) */
static double softmax_ce_probs_forward(const double *z, const double *t, size_t rows,
                                       size_t classes) {
    double total = 0.0;
    for (size_t r = 0; r < rows; r++, z += classes, t += classes) {
        double log_sum, max = row_shift(z, classes, &log_sum), row = 0.0;
        for (size_t j = 0; j < classes; j++) row += ((z[j] - max) - log_sum) * t[j];
        total += -row;
    }
    return total / (double)rows;
}

static void softmax_ce_probs_backward(const double *z, const double *t, size_t rows,
                                      size_t classes, double g, double *gz, double *gt) {
    double g_row = g / (double)rows;
    for (size_t r = 0; r < rows; r++, z += classes, t += classes, gz += classes, gt += classes) {
        double log_sum, max = row_shift(z, classes, &log_sum), mass = 0.0;
        for (size_t j = 0; j < classes; j++) mass += t[j];
        for (size_t j = 0; j < classes; j++) {
            double log_softmax = (z[j] - max) - log_sum;
            gz[j] += g_row * (exp(log_softmax) * mass - t[j]);
            gt[j] += -g_row * log_softmax;
        }
    }
}

/* ----------------------------------------------------------------------------
 * logsumexp: torch.logsumexp's formula, log(sum exp(z - m)) + m with m the max
 * (0 when the max is infinite, so that inf stays inf), and its backward */

/* the max of z[0..n), NaN if one is NaN */
static double max_forward(const double *z, size_t n) {
    double max = z[0];
    for (size_t i = 1; i < n; i++)
        if (z[i] > max || z[i] != z[i]) max = z[i];
    return max;
}

static double logsumexp_forward(const double *z, size_t n) {
    double max = max_forward(z, n);
    if (isinf(max)) max = 0.0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += exp(z[i] - max);
    return log(sum) + max;
}

/* d/dz[i] = exp(z[i] - out): the softmax */
static void logsumexp_backward(const double *z, size_t n, double out, double g, double *gz) {
    for (size_t i = 0; i < n; i++) gz[i] += g * exp(z[i] - out);
}

/* ----------------------------------------------------------------------------
 * select: c[k] for k = the last child's data, an integer row (NaN when it names
 * none); the grad goes to c[k] alone (the index is an integer and gets none).
 * An eager node keeps the row its index held when it was made (row, in its edge
 * array), so its backward is that of its value, as torch keeps the index it
 * saved; a tape passes NULL, having read each run's row in the same run */

static double select_forward(const double *c, size_t n) {
    uint32_t row;
    return mgc__select_row(c[n - 1], (uint32_t)(n - 1), &row) ? c[row] : NAN;
}

static void select_backward(const double *c, size_t n, const uint32_t *row, double g, double *gc) {
    uint32_t k;
    if (row ? (k = *row) < n - 1 : mgc__select_row(c[n - 1], (uint32_t)(n - 1), &k)) gc[k] += g;
}

/* ----------------------------------------------------------------------------
 * dispatch over the kernels */

double mgc__loss_forward(const mgc_loss *loss, const double *v) {
    size_t n = loss->count, half = n / 2;
    switch (loss->op) {
    case MGC_MSE: return mse_forward(v, v + half, half, loss->mean);
    case MGC_HINGE: return hinge_forward(v, v + half, half);
    case MGC_L2: return l2_forward(v, n);
    case MGC_BCE: return bce_forward(v, v + half, half);
    case MGC_SOFTMAX_CE: return softmax_ce_forward(v, n / loss->classes, loss->classes, loss->targets);
    case MGC_SOFTMAX_CE_PROBS:
        return softmax_ce_probs_forward(v, v + half, half / loss->classes, loss->classes);
    case MGC_LOGSUMEXP: return logsumexp_forward(v, n);
    case MGC_SELECT: return select_forward(v, n);
    case MGC_SHIFT: return max_forward(v, n);  /* and no backward: see mgc_softmax */
    default: return 0.0;
    }
}

void mgc__loss_backward(const mgc_loss *loss, const double *v, double out, double g, double *gv) {
    size_t n = loss->count, half = n / 2;
    switch (loss->op) {
    case MGC_MSE: mse_backward(v, v + half, half, loss->mean, g, gv, gv + half); break;
    case MGC_HINGE: hinge_backward(v, v + half, half, g, gv, gv + half); break;
    case MGC_L2: l2_backward(v, n, g, gv); break;
    case MGC_BCE: bce_backward(v, v + half, half, g, gv, gv + half); break;
    case MGC_SOFTMAX_CE:
        softmax_ce_backward(v, n / loss->classes, loss->classes, loss->targets, g, gv);
        break;
    case MGC_SOFTMAX_CE_PROBS:
        softmax_ce_probs_backward(v, v + half, half / loss->classes, loss->classes, g, gv, gv + half);
        break;
    case MGC_LOGSUMEXP: logsumexp_backward(v, n, out, g, gv); break;
    case MGC_SELECT: select_backward(v, n, loss->targets, g, gv); break;
    default: break;
    }
}

/* ----------------------------------------------------------------------------
 * loss nodes in the eager graph: children gathered into the arena's scratch */

mgc_loss mgc__node_loss(const mgc_node *node) {
    const mgc_id *edges = node->in.edges;
    mgc_loss loss = {node->op, edges[MGC_EDGE_COUNT], (node->flags & MGC_MEAN_FLAG) != 0, 1, NULL};
    if (node->op == MGC_SOFTMAX_CE || node->op == MGC_SOFTMAX_CE_PROBS)
        loss.classes = edges[MGC_EDGE_TEXT];
    if (node->op == MGC_SOFTMAX_CE || node->op == MGC_SELECT)
        loss.targets = edges + MGC_EDGE_HEADER + loss.count;
    return loss;
}

/* values of the children into scratch[0..count); grads zeroed in scratch[count..2 count) */
static void gather(const mgc_id *children, size_t count, double *scratch) {
    for (size_t i = 0; i < count; i++) scratch[i] = *mgc__data(children[i]);
    memset(scratch + count, 0, count * sizeof(double));
}

void mgc__loss_node_backward(mgc_id id, const mgc_node *node) {
    mgc_loss loss = mgc__node_loss(node);
    const mgc_id *children = node->in.edges + MGC_EDGE_HEADER;
    double *scratch = mgc__arena.loss_scratch;
    gather(children, loss.count, scratch);
    mgc__loss_backward(&loss, scratch, *mgc__data(id), *mgc__grad(id), scratch + loss.count);
    for (size_t i = 0; i < loss.count; i++) *mgc__grad(children[i]) += scratch[loss.count + i];
}

/* lock held; softmax_ce's targets become extra words after the children */
mgc_id mgc__kernel_node(mgc_loss loss, const mgc_id *children) {
    mgc_arena *arena = &mgc__arena;
    if (2 * loss.count > arena->loss_scratch_capacity) {
        double *grown = realloc(arena->loss_scratch, 2 * loss.count * sizeof(double));
        if (!grown) return 0;
        arena->loss_scratch = grown;
        arena->loss_scratch_capacity = 2 * loss.count;
    }
    gather(children, loss.count, arena->loss_scratch);
    double value = mgc__loss_forward(&loss, arena->loss_scratch);
    size_t rows = loss.op == MGC_SOFTMAX_CE ? loss.count / loss.classes : 0;
    mgc_id id = mgc__nary(loss.op, value, children, loss.count, rows + (loss.op == MGC_SELECT));
    if (!id) return 0;
    mgc_node *node = mgc__node(id);
    if (loss.mean) node->flags |= MGC_MEAN_FLAG;
    if (loss.op == MGC_SOFTMAX_CE || loss.op == MGC_SOFTMAX_CE_PROBS)
        node->in.edges[MGC_EDGE_TEXT] = loss.classes;
    if (rows) {
        memcpy(node->in.edges + MGC_EDGE_HEADER + loss.count, loss.targets, rows * sizeof(uint32_t));
    }
    if (loss.op == MGC_SELECT) {  /* the row it selected, for its backward */
        uint32_t row, count = loss.count;
        if (!mgc__select_row(arena->loss_scratch[count - 1], count - 1, &row)) row = UINT32_MAX;
        node->in.edges[MGC_EDGE_HEADER + count] = row;
    }
    return id;
}

mgc_id mgc_pair_loss(int op, const mgc_id *a, const mgc_id *b, size_t count, int mean) {
    if (count == 0 || count > UINT32_MAX / 2) return 0;
    mgc_id *children = malloc(2 * count * sizeof(mgc_id));
    if (!children) return 0;
    memcpy(children, a, count * sizeof(mgc_id));
    memcpy(children + count, b, count * sizeof(mgc_id));
    mgc_loss loss = {op, (uint32_t)(2 * count), op == MGC_MSE && mean, 1, NULL};
    mgc__lock();
    mgc_id id = mgc__kernel_node(loss, children);
    mgc__unlock();
    free(children);
    return id;
}

mgc_id mgc_l2(const mgc_id *p, size_t count) {
    if (count == 0 || count > UINT32_MAX) return 0;
    mgc_loss loss = {MGC_L2, (uint32_t)count, 0, 1, NULL};
    mgc__lock();
    mgc_id id = mgc__kernel_node(loss, p);
    mgc__unlock();
    return id;
}

mgc_id mgc_softmax_ce(const mgc_id *logits, size_t rows, size_t classes, const uint32_t *targets) {
    if (rows == 0 || classes == 0 || classes > UINT32_MAX / 2 / rows) return 0;
    mgc_loss loss = {MGC_SOFTMAX_CE, (uint32_t)(rows * classes), 0, (uint32_t)classes, targets};
    mgc__lock();
    mgc_id id = mgc__kernel_node(loss, logits);
    mgc__unlock();
    return id;
}

mgc_id mgc_softmax_ce_probs(const mgc_id *logits, const mgc_id *probs, size_t rows, size_t classes) {
    if (rows == 0 || classes == 0 || classes > UINT32_MAX / 2 / rows) return 0;
    size_t count = rows * classes;
    mgc_id *children = malloc(2 * count * sizeof(mgc_id));
    if (!children) return 0;
    memcpy(children, logits, count * sizeof(mgc_id));
    memcpy(children + count, probs, count * sizeof(mgc_id));
    mgc_loss loss = {MGC_SOFTMAX_CE_PROBS, (uint32_t)(2 * count), 0, (uint32_t)classes, NULL};
    mgc__lock();
    mgc_id id = mgc__kernel_node(loss, children);
    mgc__unlock();
    free(children);
    return id;
}
