/*
 * ops.c: building nodes. One call makes one node: it allocates the record,
 * links the children (taking a reference on each) and computes the value with
 * the rule in ops.h. A scalar operand becomes a leaf child made in the same
 * call, as micrograd wraps it in a Value.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

/* a node of op over children a and b (0 = absent); lock held */
static mgc_id make(int op, mgc_id a, mgc_id b, double k) {
    double va = a ? mgc__node(a)->data : 0.0;
    double vb = b ? mgc__node(b)->data : 0.0;
    mgc_id id = mgc__alloc((uint8_t)op, mgc__forward(op, va, vb, k));
    if (!id) return 0;
    mgc_node *node = mgc__node(id);
    node->in.child[0] = a;
    node->in.child[1] = b;
    node->extra.exponent = k;
    mgc__adopt_children(node);
    return id;
}

mgc_id mgc_leaf(double data) {
    mgc__lock();
    mgc_id id = mgc__alloc(MGC_LEAF, data);
    mgc__unlock();
    return id;
}

mgc_id mgc_unary(int op, mgc_id a) {
    mgc__lock();
    mgc_id id = make(op, a, 0, 0.0);
    mgc__unlock();
    return id;
}

mgc_id mgc_pow_const(mgc_id a, double exponent, int exponent_is_int) {
    mgc__lock();
    mgc_id id = make(MGC_POW, a, 0, exponent);
    if (id && exponent_is_int) mgc__node(id)->flags |= MGC_INT_EXPONENT;
    mgc__unlock();
    return id;
}

mgc_id mgc_binary(int op, mgc_id a, mgc_id b) {
    mgc__lock();
    mgc_id id = make(op, a, b, 0.0);
    mgc__unlock();
    return id;
}

mgc_id mgc_binary_scalar(int op, mgc_id a, double s, int scalar_first) {
    mgc__lock();
    mgc_id id = 0;
    mgc_id leaf = mgc__alloc(MGC_LEAF, s);
    if (leaf) {
        id = scalar_first ? make(op, leaf, a, 0.0) : make(op, a, leaf, 0.0);
        mgc__release(leaf);  /* the new node holds it now, or nothing does */
    }
    mgc__unlock();
    return id;
}

mgc_id mgc_opaque(double data, const mgc_id *children, size_t count) {
    mgc__lock();
    mgc_id id = 0;
    mgc_id *edges = count && count <= UINT32_MAX ? malloc(count * sizeof(mgc_id)) : NULL;
    if (count == 0 || edges) id = mgc__alloc(MGC_OPAQUE, data);
    if (id && edges) {
        mgc_node *node = mgc__node(id);
        memcpy(edges, children, count * sizeof(mgc_id));
        node->in.edges = edges;
        node->extra.nary.count = (uint32_t)count;
        node->flags |= MGC_NARY_FLAG;
        mgc__arena.edge_bytes += count * sizeof(mgc_id);
        mgc__adopt_children(node);
    } else if (!id) {
        free(edges);
    }
    mgc__unlock();
    return id;
}
