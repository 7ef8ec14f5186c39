/*
 * graph.c: the backward pass over the eager graph.
 *
 * A depth-first walk with an explicit stack puts the nodes reachable from the
 * root in topological order (children before parents, each node's children in
 * their fixed order), then the local rules of ops.h run in reverse order. No
 * recursion, so depth is bounded by memory only; visited marks are epoch
 * stamps, so nothing is cleared between calls.
 */
#include "internal.h"
#include "ops.h"

/* a new epoch; on wrap-around every mark is cleared so none looks visited */
static uint32_t next_epoch(mgc_arena *arena) {
    if (++arena->epoch == 0) {
        for (uint64_t id = 1; id < arena->next_fresh; id++) mgc__node((mgc_id)id)->mark = 0;
        arena->epoch = 1;
    }
    return arena->epoch;
}

/* fills arena->order with the nodes reachable from root, children first;
 * returns their count, or -1 when memory ran out */
static long long topological_order(mgc_arena *arena, mgc_id root) {
    uint32_t epoch = next_epoch(arena);
    size_t depth = 0, count = 0;
    if (mgc__reserve(&arena->stack, &arena->stack_capacity, 2) != 0) return -1;
    arena->stack[0] = root;
    arena->stack[1] = 0;  /* index of the next child to visit */
    depth = 1;
    mgc__node(root)->mark = epoch;
    while (depth) {
        mgc_id *top = &arena->stack[2 * (depth - 1)];
        uint32_t n;
        const mgc_id *children = mgc__children(mgc__node(top[0]), &n);
        if (top[1] < n) {
            mgc_id child = children[top[1]++];
            mgc_node *child_node = mgc__node(child);
            if (child_node->mark == epoch) continue;
            child_node->mark = epoch;
            if (2 * (depth + 1) > arena->stack_capacity &&
                mgc__reserve(&arena->stack, &arena->stack_capacity, 2 * (depth + 1)) != 0)
                return -1;
            arena->stack[2 * depth] = child;
            arena->stack[2 * depth + 1] = 0;
            depth++;
        } else {
            if (count == arena->order_capacity &&
                mgc__reserve(&arena->order, &arena->order_capacity, count + 1) != 0)
                return -1;
            arena->order[count++] = top[0];
            depth--;
        }
    }
    return (long long)count;
}

/* the local rule of one node, accumulating into its children's grads */
static void node_backward(mgc_node *node) {
    if (node->op == MGC_LEAF || node->op == MGC_OPAQUE) return;
    mgc_node *a = mgc__node(node->in.child[0]);
    double unused = 0.0;
    mgc_node *b = node->in.child[1] ? mgc__node(node->in.child[1]) : NULL;
    mgc__backward(node->op, a->data, b ? b->data : 0.0, node->extra.exponent, node->data,
                  node->grad, &a->grad, b ? &b->grad : &unused);
}

int mgc_backward(mgc_id root) {
    mgc__lock();
    mgc_arena *arena = &mgc__arena;
    long long count = topological_order(arena, root);
    if (count >= 0) {
        mgc__node(root)->grad = 1.0;
        for (long long i = count - 1; i >= 0; i--) node_backward(mgc__node(arena->order[i]));
    }
    mgc__unlock();
    return count >= 0 ? 0 : -1;
}
