/*
 * ops.c: building nodes. One call makes one node: it allocates the record
 * (with an id above its children's), links the children (taking a reference on
 * each) and computes the value with the rule in ops.h. A scalar operand, or a
 * constant exponent, becomes a leaf child made in the same call, as micrograd
 * wraps it in a Value.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

/* lock held */
mgc_id mgc__make(int op, mgc_id a, mgc_id b) {
    double va = a ? *mgc__data(a) : 0.0;
    double vb = b ? *mgc__data(b) : 0.0;
    mgc_id id = mgc__alloc((uint8_t)op, mgc__forward(op, va, vb), a > b ? a : b);
    if (!id) return 0;
    mgc_node *node = mgc__node(id);
    node->in.child[0] = a;
    node->in.child[1] = b;
    if (a) mgc__link_child(node, 0);
    if (b) mgc__link_child(node, 1);
    return id;
}

/* a node of op over a and a new leaf holding s (s first if scalar_first) */
static mgc_id make_with_leaf(int op, mgc_id a, double s, int scalar_first) {
    mgc_id leaf = mgc__alloc(MGC_LEAF, s, 0);
    if (!leaf) return 0;
    mgc_id id = scalar_first ? mgc__make(op, leaf, a) : mgc__make(op, a, leaf);
    mgc__release(leaf);  /* the new node holds it now, or nothing does */
    return id;
}

mgc_id mgc_leaf(double data) {
    mgc__lock();
    mgc_id id = mgc__alloc(MGC_LEAF, data, 0);
    mgc__unlock();
    return id;
}

mgc_id mgc_unary(int op, mgc_id a) {
    mgc__lock();
    mgc_id id = mgc__make(op, a, 0);
    mgc__unlock();
    return id;
}

mgc_id mgc_pow_const(mgc_id a, double exponent, int exponent_is_int) {
    mgc__lock();
    mgc_id id = make_with_leaf(MGC_POW, a, exponent, 0);
    if (id && exponent_is_int) mgc__node(id)->flags |= MGC_INT_EXPONENT;
    mgc__unlock();
    return id;
}

mgc_id mgc_binary(int op, mgc_id a, mgc_id b) {
    mgc__lock();
    mgc_id id = mgc__make(op, a, b);
    mgc__unlock();
    return id;
}

mgc_id mgc_binary_scalar(int op, mgc_id a, double s, int scalar_first) {
    mgc__lock();
    mgc_id id = make_with_leaf(op, a, s, scalar_first);
    mgc__unlock();
    return id;
}

mgc_id mgc_opaque(double data, const mgc_id *children, size_t count) {
    mgc__lock();
    mgc_id id = mgc__nary(MGC_OPAQUE, data, children, count, 0);
    mgc__unlock();
    return id;
}

int mgc_leaves(const double *data, size_t count, mgc_id *out) {
    mgc__lock();
    size_t made = 0;
    while (made < count && (out[made] = mgc__alloc(MGC_LEAF, data[made], 0))) made++;
    if (made < count)
        while (made) mgc__release(out[--made]);
    mgc__unlock();
    return made == count ? 0 : -1;
}

/* ----------------------------------------------------------------------------
 * n-ary nodes: children in an edge array [count, text, ids..., extra words] */

mgc_id mgc__nary(int op, double data, const mgc_id *children, size_t count, size_t extra) {
    if (count + extra > UINT32_MAX - MGC_EDGE_HEADER) return 0;
    size_t bytes = (MGC_EDGE_HEADER + count + extra) * sizeof(mgc_id);
    mgc_id *edges = malloc(bytes);
    if (!edges) return 0;
    mgc_id above = 0;
    for (size_t i = 0; i < count; i++)
        if (children[i] > above) above = children[i];
    mgc_id id = mgc__alloc((uint8_t)op, data, above);
    if (!id) {
        free(edges);
        return 0;
    }
    edges[MGC_EDGE_COUNT] = (mgc_id)count;
    edges[MGC_EDGE_TEXT] = 0;
    if (count) memcpy(edges + MGC_EDGE_HEADER, children, count * sizeof(mgc_id));
    mgc_node *node = mgc__node(id);
    node->in.edges = edges;
    node->flags |= MGC_NARY_FLAG;
    mgc__arena.edge_bytes += bytes;
    for (size_t i = 0; i < count; i++) mgc__node(children[i])->refs++;
    return id;
}

/* ----------------------------------------------------------------------------
 * dot: a neuron's sum as one node over runs of operand lists (internal.h) */

mgc_id mgc__dot(mgc_operands *w, uint32_t w_at, mgc_operands *x, uint32_t x_at, uint32_t n,
                int has_bias, double sum) {
    if (n > (UINT32_MAX - 1) / 2) return 0;  /* its children, 2n + 1, are counted in 32 bits */
    mgc_dot_in *dot = malloc(sizeof *dot);
    if (!dot) return 0;
    *dot = (mgc_dot_in){.w = w, .x = x, .w_at = w_at, .x_at = x_at, .n = n,
                        .has_bias = (uint8_t)(has_bias != 0)};
    mgc_id id = mgc__alloc(MGC_DOT, sum, w->top > x->top ? w->top : x->top);
    if (!id) {
        free(dot);
        return 0;
    }
    mgc_node *node = mgc__node(id);
    node->in.dot = dot;
    node->flags |= MGC_DOT_FLAG;
    w->refs++;
    x->refs++;
    mgc__arena.edge_bytes += sizeof *dot;
    return id;
}

mgc_id mgc_dot(const mgc_id *w, const mgc_id *x, size_t count, mgc_id bias) {
    if (count > (UINT32_MAX - 1) / 2) return 0;  /* see mgc__dot */
    mgc__lock();
    mgc_id id = 0;
    /* the bias after the weights, as a layer's list has it */
    mgc_operands *ws = mgc__operands(w, count, bias), *xs = NULL;
    if (ws && (xs = mgc__operands(x, count, 0)))
        id = mgc__dot(ws, 0, xs, 0, (uint32_t)count, bias != 0,
                      mgc__dot_forward(ws->ids, xs->ids, (uint32_t)count, bias != 0,
                                       mgc__node_slot, NULL));
    if (ws) mgc__operands_drop(ws);  /* the dot holds them now, or nothing does */
    if (xs) mgc__operands_drop(xs);
    mgc__unlock();
    return id;
}

/* ----------------------------------------------------------------------------
 * softmax and select, made of the kernels in losses.c */

mgc_id mgc_logsumexp(const mgc_id *z, size_t count) {
    if (count == 0 || count > UINT32_MAX - MGC_EDGE_HEADER) return 0;
    mgc_loss loss = {MGC_LOGSUMEXP, (uint32_t)count, 0, 1, NULL};
    mgc__lock();
    mgc_id id = mgc__kernel_node(loss, z);
    mgc__unlock();
    return id;
}

/* shift m, d[i] = z[i] - m, lse = logsumexp(d), out[i] = exp(d[i] - lse): 2 count + 2
 * nodes. The shift passes no grad on: out does not depend on it (d's -g into it
 * would sum to 0 but for rounding). Lock held; 0 or -1 */
static int softmax(const mgc_id *z, uint32_t count, mgc_id *out) {
    mgc_loss shift_kernel = {MGC_SHIFT, count, 0, 1, NULL};
    mgc_loss lse_kernel = {MGC_LOGSUMEXP, count, 0, 1, NULL};
    mgc_id shift = mgc__kernel_node(shift_kernel, z), lse = 0;
    size_t made = 0;
    if (shift) {
        /* the differences go in out[] until lse is made over them */
        while (made < count && (out[made] = mgc__make(MGC_SUB, z[made], shift))) made++;
        mgc__release(shift);  /* the differences hold it now */
    }
    if (shift && made == count && (lse = mgc__kernel_node(lse_kernel, out))) {
        for (size_t i = 0; i < count; i++) {
            mgc_id d = out[i];
            out[i] = mgc__make(MGC_SOFTMAX, d, lse);
            mgc__release(d);  /* out[i] holds it now, or nothing does */
            if (!out[i]) {  /* what is left of out[] are differences: free those too */
                for (size_t k = i + 1; k < count; k++) mgc__release(out[k]);
                made = i;
                break;
            }
        }
        mgc__release(lse);
        if (made == count) return 0;
    }
    while (made) mgc__release(out[--made]);
    return -1;
}

int mgc_softmax(const mgc_id *z, size_t count, mgc_id *out) {
    if (count == 0 || count > UINT32_MAX - MGC_EDGE_HEADER) return -1;
    mgc__lock();
    int status = softmax(z, (uint32_t)count, out);
    mgc__unlock();
    return status;
}

int mgc_select(const mgc_id *table, size_t rows, size_t cols, mgc_id index, mgc_id *out) {
    if (rows == 0 || rows > UINT32_MAX - MGC_EDGE_HEADER - 1) return -1;
    mgc_id local[65], *children = rows < 65 ? local : malloc((rows + 1) * sizeof(mgc_id));
    if (!children) return -1;
    mgc_loss loss = {MGC_SELECT, (uint32_t)(rows + 1), 0, 1, NULL};
    children[rows] = index;
    mgc__lock();
    size_t made = 0;
    for (; made < cols; made++) {
        for (size_t r = 0; r < rows; r++) children[r] = table[r * cols + made];
        if (!(out[made] = mgc__kernel_node(loss, children))) break;
    }
    if (made < cols)
        while (made) mgc__release(out[--made]);
    mgc__unlock();
    if (children != local) free(children);
    return made == cols ? 0 : -1;
}
