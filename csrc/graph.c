/*
 * graph.c: the backward pass over the eager graph.
 *
 * Every node's id is above its children's (internal.h), so descending ids are
 * a topological order: one sweep down from the root, applying the local rule
 * of each node the root reaches, visits every node after all of its parents.
 * Reached nodes carry the current epoch in mark, so nothing is cleared between
 * calls. The sweep stops as soon as no reached node with children is left, it
 * needs no stack and no scratch memory, and it reads the arena in address
 * order. No recursion: depth is bounded by memory only.
 */
#include "internal.h"
#include "ops.h"

/* a new epoch; on wrap-around every mark is cleared so none looks reached */
static uint32_t next_epoch(mgc_arena *arena) {
    if (++arena->epoch == 0) {
        for (uint64_t id = 1; id < arena->next_fresh; id++) mgc__node((mgc_id)id)->mark = 0;
        arena->epoch = 1;
    }
    return arena->epoch;
}

/* whether a node has children, so that a sweep must visit it */
static inline int has_children(const mgc_node *node) {
    if (node->flags & MGC_NARY_FLAG) return node->in.edges[MGC_EDGE_COUNT] != 0;
    return node->in.child[0] != 0;
}

/* marks a child reached; returns 1 if it is newly reached and has children */
static inline size_t reach(mgc_node *child, uint32_t epoch) {
    if (child->mark == epoch) return 0;
    child->mark = epoch;
    return (size_t)has_children(child);
}

/* the rule of a dot node: its children are w[0..n), x[0..n), then the bias
 * if count is odd. In the forward pass this was bias + sum of w[i] * x[i]. */
static void dot_backward(double g, const mgc_id *children, uint32_t count) {
    uint32_t n = count / 2;
    for (uint32_t i = 0; i < n; i++) {
        mgc_node *w = mgc__node(children[i]), *x = mgc__node(children[n + i]);
        w->grad += x->data * g;
        x->grad += w->data * g;
    }
    if (count % 2) mgc__node(children[count - 1])->grad += g;
}

/* stands in for the missing second child of a unary node */
static mgc_node no_child;

void mgc_backward(mgc_id root) {
    mgc__lock();
    uint32_t epoch = next_epoch(&mgc__arena);
    mgc_node *node = mgc__node(root);
    node->grad = 1.0;
    node->mark = epoch;
    size_t pending = (size_t)has_children(node);  /* reached, with children, not yet swept */
    for (mgc_id id = root; pending; id--) {
        node = mgc__node(id);
        if (node->mark != epoch || !has_children(node)) continue;
        pending--;
        if (node->flags & MGC_NARY_FLAG) {
            uint32_t count;
            const mgc_id *children = mgc__children(node, &count);
            if (node->op == MGC_DOT) dot_backward(node->grad, children, count);
            else if (node->op != MGC_OPAQUE) mgc__loss_node_backward(node);
            for (uint32_t i = 0; i < count; i++) pending += reach(mgc__node(children[i]), epoch);
            continue;
        }
        mgc_node *a = mgc__node(node->in.child[0]);
        mgc_node *b = node->in.child[1] ? mgc__node(node->in.child[1]) : &no_child;
        mgc__backward(node->op, a->data, b->data, node->data, node->grad, &a->grad, &b->grad);
        pending += reach(a, epoch);
        if (b != &no_child) pending += reach(b, epoch);
    }
    mgc__unlock();
}
