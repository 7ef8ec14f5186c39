/*
 * layers.c: dense layers built in one call. A neuron is one dot node (ops.c)
 * and, unless linear, one activation node over it: the nodes and numbers
 * micrograd's Neuron would give, without a Python call per scalar.
 *
 * Parameters come as an operand list (internal.h) in micrograd's parameters()
 * order: for each neuron, its weights then its bias; for an MLP, layer after
 * layer. Each call's dots read runs of it, and of one list of the call's inputs.
 */
#include <stdlib.h>

#include "internal.h"
#include "ops.h"

/* act over the node sum, taking over the caller's reference to sum and
 * giving one to the caller (sum is released if memory ran out); lock held */
static mgc_id activate(int act, mgc_id sum) {
    mgc_id out = mgc__alloc((uint8_t)act, 0.0, sum);
    if (!out) {
        mgc__release(sum);
        return 0;
    }
    mgc_node *node = mgc__node(out);
    node->in.child[0] = sum;  /* the reference taken over is the link's */
    if (!mgc__has_children(mgc__node(sum))) node->flags |= MGC_LEAF_CHILD0;
    *mgc__data(out) = mgc__forward(act, *mgc__data(sum), 0.0);
    return out;
}

/* The sums of a layer's nout neurons over inputs x (their values): neuron j's
 * weights are the run at + j * stride of params, then its bias if has_bias. Each
 * sum is added as mgc__dot_forward adds it (the bias, then w0 * x0, w1 * x1,
 * ...), so the bits are the same; four neurons go side by side, so that their
 * additions overlap instead of each waiting on the one before. Lock held */
static void layer_sums(const mgc_operands *params, uint32_t at, uint32_t stride, uint32_t nin,
                       uint32_t nout, int has_bias, const double *x, double *sums) {
    uint32_t j = 0;
    for (; j + 4 <= nout; j += 4) {  /* four sums in registers */
        const mgc_id *w0 = params->ids + at + j * stride, *w1 = w0 + stride, *w2 = w1 + stride,
                     *w3 = w2 + stride;
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        if (has_bias) {
            s0 = *mgc__data(w0[nin]);
            s1 = *mgc__data(w1[nin]);
            s2 = *mgc__data(w2[nin]);
            s3 = *mgc__data(w3[nin]);
        }
        for (uint32_t i = 0; i < nin; i++) {
            s0 = s0 + *mgc__data(w0[i]) * x[i];
            s1 = s1 + *mgc__data(w1[i]) * x[i];
            s2 = s2 + *mgc__data(w2[i]) * x[i];
            s3 = s3 + *mgc__data(w3[i]) * x[i];
        }
        sums[j] = s0;
        sums[j + 1] = s1;
        sums[j + 2] = s2;
        sums[j + 3] = s3;
    }
    for (; j < nout; j++) {
        const mgc_id *w = params->ids + at + j * stride;
        double sum = has_bias ? *mgc__data(w[nin]) : 0.0;
        for (uint32_t i = 0; i < nin; i++) sum = sum + *mgc__data(w[i]) * x[i];
        sums[j] = sum;
    }
}

/* out[j] = act(dot(w_j, x, b_j)) (has_bias) or dot(w_j, x), neuron j's weights
 * (and bias) the run at + j * stride of params; all the dots first, then the
 * activations, so a tape sees the layer's dots side by side. Takes over the
 * caller's hold on x; scratch: room for nin + nout doubles. Lock held */
static int layer(mgc_operands *params, uint32_t at, uint32_t stride, uint32_t nin, uint32_t nout,
                 int has_bias, int act, mgc_operands *x, double *scratch, mgc_id *out) {
    double *xv = scratch, *sums = scratch + nin;
    for (uint32_t i = 0; i < nin; i++) xv[i] = *mgc__data(x->ids[i]);
    layer_sums(params, at, stride, nin, nout, has_bias, xv, sums);
    uint32_t made = 0;
    while (made < nout &&
           (out[made] = mgc__dot(params, at + made * stride, x, 0, nin, has_bias, sums[made])))
        made++;
    mgc__operands_drop(x);  /* the dots hold it now, or nothing does */
    for (uint32_t j = 0; j < made && act != MGC_LEAF; j++)
        if (!(out[j] = activate(act, out[j]))) {
            for (uint32_t k = j + 1; k < made; k++) mgc__release(out[k]);
            made = j;
        }
    if (made == nout) return 0;
    while (made) mgc__release(out[--made]);
    return -1;
}

int mgc_mlp(mgc_operands *params, const uint32_t *sizes, const int *acts, size_t layers,
            const mgc_id *x, mgc_id *out) {
    size_t widest = 0, needed = 0, scratch_size = 0;
    for (size_t i = 0; i < layers; i++) {
        if (i > 0 && sizes[i] > widest) widest = sizes[i];
        if ((size_t)sizes[i] + sizes[i + 1] > scratch_size) scratch_size = (size_t)sizes[i] + sizes[i + 1];
        needed += (size_t)sizes[i + 1] * ((size_t)sizes[i] + 1);
    }
    if (needed > params->count) return -1;
    mgc_id *hidden = malloc(2 * (widest ? widest : 1) * sizeof(mgc_id));
    double *scratch = malloc((scratch_size ? scratch_size : 1) * sizeof(double));
    int status = hidden && scratch ? 0 : -1;
    mgc__lock();
    const mgc_id *input = x;
    uint32_t at = 0;
    for (size_t i = 0; i < layers && status == 0; i++) {
        mgc_id *output = i + 1 == layers ? out : hidden + (i % 2) * widest;
        mgc_operands *inputs = mgc__operands(input, sizes[i], 0);
        if (i > 0)  /* the previous hidden layer is held by this one's inputs now, or dies */
            for (uint32_t j = 0; j < sizes[i]; j++) mgc__release(input[j]);
        status = inputs ? layer(params, at, sizes[i] + 1, sizes[i], sizes[i + 1], 1, acts[i], inputs,
                                scratch, output)
                        : -1;
        at += sizes[i + 1] * (sizes[i] + 1);
        input = output;
    }
    mgc__unlock();
    free(hidden);
    free(scratch);
    return status;
}

/* no-bias dot rows over one input: a layer without biases */
int mgc_linear(mgc_operands *w, size_t nout, size_t nin, const mgc_id *x, mgc_id *out) {
    if (nin > UINT32_MAX || nout > UINT32_MAX || (nin && nout > w->count / nin)) return -1;
    double *scratch = malloc((nin + nout ? nin + nout : 1) * sizeof(double));
    if (!scratch) return -1;
    mgc__lock();
    mgc_operands *xs = mgc__operands(x, nin, 0);
    int status = xs ? layer(w, 0, (uint32_t)nin, (uint32_t)nin, (uint32_t)nout, 0, MGC_LEAF, xs,
                            scratch, out)
                    : -1;
    mgc__unlock();
    free(scratch);
    return status;
}
