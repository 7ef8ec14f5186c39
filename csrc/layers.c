/*
 * layers.c: dense layers built in one call. A neuron is one dot node (ops.c)
 * and, unless linear, one activation node over it: the nodes and numbers
 * micrograd's Neuron would give, without a Python call per scalar.
 *
 * Parameters come as ids in micrograd's parameters() order: for each neuron,
 * its weights then its bias; for an MLP, layer after layer.
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

/* out[j] = act(dot(w_j, x, b_j)), neuron j's weights and bias the run at
 * at + j * (nin + 1) of params; all the dots first, then the activations, so a
 * tape sees the layer's dots side by side. Takes over the caller's hold on x;
 * lock held */
static int layer(mgc_operands *params, uint32_t at, uint32_t nin, uint32_t nout, int act,
                 mgc_operands *x, mgc_id *out) {
    uint32_t made = 0;
    while (made < nout && (out[made] = mgc__dot(params, at + made * (nin + 1), x, 0, nin, 1)))
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
    size_t widest = 0, needed = 0;
    for (size_t i = 0; i < layers; i++) {
        if (i > 0 && sizes[i] > widest) widest = sizes[i];
        needed += (size_t)sizes[i + 1] * ((size_t)sizes[i] + 1);
    }
    if (needed > params->count) return -1;
    mgc_id *hidden = malloc(2 * (widest ? widest : 1) * sizeof(mgc_id));
    if (!hidden) return -1;
    mgc__lock();
    int status = 0;
    const mgc_id *input = x;
    uint32_t at = 0;
    for (size_t i = 0; i < layers && status == 0; i++) {
        mgc_id *output = i + 1 == layers ? out : hidden + (i % 2) * widest;
        mgc_operands *inputs = mgc__operands(input, sizes[i], 0);
        if (i > 0)  /* the previous hidden layer is held by this one's inputs now, or dies */
            for (uint32_t j = 0; j < sizes[i]; j++) mgc__release(input[j]);
        status = inputs ? layer(params, at, sizes[i], sizes[i + 1], acts[i], inputs, output) : -1;
        at += sizes[i + 1] * (sizes[i] + 1);
        input = output;
    }
    mgc__unlock();
    free(hidden);
    return status;
}
