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

/* stands in for the missing second child of a unary node */
static mgc_node no_child;

void mgc_backward(mgc_id root) {
    mgc__lock();
    uint32_t epoch = mgc__next_epoch();
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
            if (node->op == MGC_DOT) mgc__dot_backward(children, count, node->grad, mgc__node_slot, NULL);
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
