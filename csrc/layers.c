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

/* out[j] = act(dot(w_j, x, b_j)); all the dots first, then the activations, so a
 * tape sees the layer's dots side by side; lock held */
static int layer(const mgc_id *params, size_t nin, size_t nout, int act, const mgc_id *x,
                 mgc_id *out) {
    size_t made = 0;
    while (made < nout) {
        const mgc_id *neuron = params + made * (nin + 1);
        if (!(out[made] = mgc__dot(neuron, x, nin, neuron[nin]))) break;
        made++;
    }
    for (size_t j = 0; j < made && act != MGC_LEAF; j++)
        if (!(out[j] = activate(act, out[j]))) {
            for (size_t k = j + 1; k < made; k++) mgc__release(out[k]);
            made = j;
        }
    if (made == nout) return 0;
    while (made) mgc__release(out[--made]);
    return -1;
}

int mgc_mlp(const mgc_id *params, const uint32_t *sizes, const int *acts, size_t layers,
            const mgc_id *x, mgc_id *out) {
    size_t widest = 0;
    for (size_t i = 1; i < layers; i++)
        if (sizes[i] > widest) widest = sizes[i];
    mgc_id *hidden = malloc(2 * (widest ? widest : 1) * sizeof(mgc_id));
    if (!hidden) return -1;
    mgc__lock();
    int status = 0;
    const mgc_id *input = x;
    for (size_t i = 0; i < layers && status == 0; i++) {
        mgc_id *output = i + 1 == layers ? out : hidden + (i % 2) * widest;
        status = layer(params, sizes[i], sizes[i + 1], acts[i], input, output);
        if (i > 0)  /* the previous hidden layer is held by this one now, or dies */
            for (uint32_t j = 0; j < sizes[i]; j++) mgc__release(input[j]);
        params += (size_t)sizes[i + 1] * (sizes[i] + 1);
        input = output;
    }
    mgc__unlock();
    free(hidden);
    return status;
}
