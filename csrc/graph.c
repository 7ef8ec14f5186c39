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

/* the local rule of one node, accumulating into its children's grads */
static void node_backward(const mgc_node *node) {
    if (node->op == MGC_OPAQUE) return;
    mgc_node *a = mgc__node(node->in.child[0]);
    double unused = 0.0;
    mgc_node *b = node->in.child[1] ? mgc__node(node->in.child[1]) : NULL;
    mgc__backward(node->op, a->data, b ? b->data : 0.0, node->data, node->grad, &a->grad,
                  b ? &b->grad : &unused);
}

void mgc_backward(mgc_id root) {
    mgc__lock();
    uint32_t epoch = next_epoch(&mgc__arena);
    mgc_node *node = mgc__node(root);
    node->grad = 1.0;
    node->mark = epoch;
    uint32_t count;
    mgc__children(node, &count);
    size_t pending = count ? 1 : 0;  /* reached nodes with children, not yet swept */
    for (mgc_id id = root; pending; id--) {
        node = mgc__node(id);
        if (node->mark != epoch) continue;
        const mgc_id *children = mgc__children(node, &count);
        if (!count) continue;
        pending--;
        node_backward(node);
        for (uint32_t i = 0; i < count; i++) {
            mgc_node *child = mgc__node(children[i]);
            if (child->mark == epoch) continue;
            child->mark = epoch;
            uint32_t grandchildren;
            mgc__children(child, &grandchildren);
            if (grandchildren) pending++;
        }
    }
    mgc__unlock();
}
