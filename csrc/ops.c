/*
 * ops.c: building nodes. One call makes one node: it allocates the record
 * with an id above its children's, links the children (taking a reference on
 * each) and computes the value with the rule in ops.h. A scalar operand, or a
 * constant exponent, becomes a leaf child made in the same call, as micrograd
 * wraps it in a Value.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

/* a node of op over children a and b (0 = absent); lock held */
static mgc_id make(int op, mgc_id a, mgc_id b) {
    double va = a ? mgc__node(a)->data : 0.0;
    double vb = b ? mgc__node(b)->data : 0.0;
    mgc_id id = mgc__alloc((uint8_t)op, mgc__forward(op, va, vb), a > b ? a : b);
    if (!id) return 0;
    mgc_node *node = mgc__node(id);
    node->in.child[0] = a;
    node->in.child[1] = b;
    if (a) mgc__node(a)->refs++;
    if (b) mgc__node(b)->refs++;
    return id;
}

/* a node of op over a and a new leaf holding s (s first if scalar_first) */
static mgc_id make_with_leaf(int op, mgc_id a, double s, int scalar_first) {
    mgc_id leaf = mgc__alloc(MGC_LEAF, s, 0);
    if (!leaf) return 0;
    mgc_id id = scalar_first ? make(op, leaf, a) : make(op, a, leaf);
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
    mgc_id id = make(op, a, 0);
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
    mgc_id id = make(op, a, b);
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
    if (count > UINT32_MAX - MGC_EDGE_HEADER) return 0;
    size_t bytes = (count + MGC_EDGE_HEADER) * sizeof(mgc_id);
    mgc_id *edges = malloc(bytes);
    if (!edges) return 0;
    edges[MGC_EDGE_COUNT] = (mgc_id)count;
    edges[MGC_EDGE_TEXT] = 0;
    mgc_id above = 0;
    for (size_t i = 0; i < count; i++) {
        edges[MGC_EDGE_HEADER + i] = children[i];
        if (children[i] > above) above = children[i];
    }
    mgc__lock();
    mgc_id id = mgc__alloc(MGC_OPAQUE, data, above);
    if (id) {
        mgc_node *node = mgc__node(id);
        node->in.edges = edges;
        node->flags |= MGC_NARY_FLAG;
        mgc__arena.edge_bytes += bytes;
        for (size_t i = 0; i < count; i++) mgc__node(children[i])->refs++;
    } else {
        free(edges);
    }
    mgc__unlock();
    return id;
}
