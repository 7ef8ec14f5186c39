/*
 * graph.c: the order of a graph, and the backward pass over the eager graph.
 *
 * The order is by descending stamp: each node after every node made later
 * (internal.h). A parent is made after its children, so this visits a node
 * after all of its parents; and it depends on the program alone, never on
 * which ids were free, so the same program accumulates its gradients in the
 * same order and gets the same bits whatever the arena held before, in one
 * thread or many.
 *
 * Finding it costs O(nodes reached). Usually it is one sweep down the ids
 * from the root: every id is above its children's, so a sweep meets each
 * reached node after its parents, and it stops as soon as nothing reached is
 * left below. The arena hands out ids that mostly climb with the stamps, so
 * the sweep usually lists the nodes in stamp order already; it checks, and
 * when they are not (the arena's cursor wrapped round while the graph was
 * built) they are sorted by stamp. When the graph's ids are spread too thin
 * for a sweep to pay (a few nodes among millions), a walk collects them
 * instead, and they are sorted. Reached nodes carry the walk's epoch in mark,
 * so nothing is cleared between calls. No recursion: depth is bounded by
 * memory only.
 */
#include <stdlib.h>

#include "internal.h"
#include "ops.h"

/* a sweep gives up when it has passed more than this many ids, plus
 * SPREAD_PER_NODE for each node it listed */
#define SPREAD_ALLOWED 1024
#define SPREAD_PER_NODE 4

/* what a sweep found */
enum { IN_ORDER = 0, OUT_OF_ORDER = 1, TOO_SPREAD = 2, NO_MEMORY = -1 };

/* room for extra more ids in order; 0 or -1 */
static inline int reserve(mgc_order *order, size_t extra) {
    if (__builtin_expect(order->count + extra <= order->capacity, 1)) return 0;
    size_t grown = order->capacity ? 2 * order->capacity : 1024;
    while (grown < order->count + extra) grown *= 2;
    mgc_id *bigger = realloc(order->ids, grown * sizeof(mgc_id));
    if (!bigger) return -1;
    order->ids = bigger;
    order->capacity = grown;
    return 0;
}

/* ----------------------------------------------------------------------------
 * the order's memory: lent to one caller at a time, kept for the next */

static mgc_order spare;

mgc_order mgc__order_borrow(void) {
    mgc_order order = spare;
    spare = (mgc_order){0};
    return order;
}

void mgc__order_return(mgc_order *order) {
    free(spare.ids);
    free(spare.other);
    free(spare.starts);
    spare = *order;
    spare.count = 0;
    *order = (mgc_order){0};
}

size_t mgc__order_bytes(void) {
    return (spare.capacity + spare.other_capacity) * sizeof(mgc_id) +
           spare.starts_capacity * sizeof(size_t);
}

/* ----------------------------------------------------------------------------
 * finding the order */

/* whether a walk takes node in: it has children, or leaves are wanted */
static inline int taken(const mgc_node *node, int with_leaves) {
    return with_leaves || mgc__has_children(node);
}

/* marks ids [from, from + len) of list as mark_children does (out, the return). The
 * list remembers the one run of it this walk has reached (lo, hi), so the dots of a
 * layer, which read runs of one list of parameters and one of inputs, have their
 * operands looked at once a walk, not once a dot; runs that do not join up are each
 * looked at (gaps). A walk without leaves skips a list of leaves. */
static uint32_t mark_run(mgc_operands *list, uint32_t from, uint32_t len, int with_leaves,
                         uint32_t epoch, mgc_id *out) {
    uint32_t to = from + len, found = 0;
    uint64_t stamp = mgc__walk_stamp(epoch);
    if (!with_leaves && list->leaves_only) return 0;
    if (list->mark != stamp) {
        list->mark = stamp;
        list->lo = from;
        list->hi = to;
        list->gaps = 0;
    } else if (from >= list->lo && to <= list->hi) {
        return 0;
    } else if (from <= list->hi && to >= list->lo) {  /* joins up: the run grows */
        if (from < list->lo) list->lo = from;
        if (to > list->hi) list->hi = to;
    } else {
        list->gaps = 1;
    }
    for (uint32_t k = from; k < to; k++) {
        mgc_node *child = mgc__node(list->ids[k]);
        if (child->mark == epoch || !taken(child, with_leaves)) continue;
        child->mark = epoch;
        if (out) out[found] = list->ids[k];
        found++;
    }
    return found;
}

/* marks the children of node that the walk takes in and had not reached,
 * writes their ids to out (unless out is NULL) and returns how many there
 * were. A binary node's flags say which of its children are leaves, so those
 * are not even read. */
static inline uint32_t mark_children(const mgc_node *node, int with_leaves, uint32_t epoch,
                                     mgc_id *out) {
    uint32_t found = 0;
    if (node->flags & MGC_DOT_FLAG) {
        const mgc_dot_in *dot = node->in.dot;
        found = mark_run(dot->w, dot->w_at, dot->n + dot->has_bias, with_leaves, epoch, out);
        return found + mark_run(dot->x, dot->x_at, dot->n, with_leaves, epoch,
                                out ? out + found : NULL);
    }
    if (!(node->flags & MGC_NARY_FLAG)) {
        uint8_t leaves = with_leaves ? 0 : node->flags;
        for (int k = 0; k < 2; k++) {
            mgc_id id = node->in.child[k];
            if (!id || leaves & (k ? MGC_LEAF_CHILD1 : MGC_LEAF_CHILD0)) continue;
            mgc_node *child = mgc__node(id);
            if (child->mark == epoch) continue;
            child->mark = epoch;
            if (out) out[found] = id;
            found++;
        }
        return found;
    }
    uint32_t count;
    const mgc_id *children = mgc__children(node, &count);
    for (uint32_t k = 0; k < count; k++) {
        mgc_node *child = mgc__node(children[k]);
        if (child->mark == epoch || !taken(child, with_leaves)) continue;
        child->mark = epoch;
        if (out) out[found] = children[k];
        found++;
    }
    return found;
}

/* the sweep down the ids from the highest root, listing what it reaches */
static int sweep(const mgc_id *roots, size_t root_count, int with_leaves, uint32_t epoch,
                 mgc_order *order) {
    size_t pending = 0, passed = 0;
    mgc_id top = 0;
    for (size_t r = 0; r < root_count; r++) {
        mgc_node *root = mgc__node(roots[r]);
        if (root->mark == epoch || !taken(root, with_leaves)) continue;
        root->mark = epoch;
        pending++;
        if (roots[r] > top) top = roots[r];
    }
    uint64_t last = UINT64_MAX;
    int status = IN_ORDER;
    for (mgc_id id = top; pending; id--) {
        if (__builtin_expect(++passed % 1024 == 0, 0) &&
            passed > SPREAD_ALLOWED + SPREAD_PER_NODE * order->count)
            return TOO_SPREAD;
        mgc_node *node = mgc__node(id);
        if (node->mark != epoch) continue;
        pending--;
        if (reserve(order, 1)) return NO_MEMORY;
        order->ids[order->count++] = id;
        if (node->stamp > last) status = OUT_OF_ORDER;
        last = node->stamp;
        pending += mark_children(node, with_leaves, epoch, NULL);
    }
    return status;
}

/* a walk from the roots that collects what they reach, in no useful order */
static int collect(const mgc_id *roots, size_t root_count, int with_leaves, uint32_t epoch,
                   mgc_order *order) {
    for (size_t r = 0; r < root_count; r++) {
        mgc_node *root = mgc__node(roots[r]);
        if (root->mark == epoch || !taken(root, with_leaves)) continue;
        root->mark = epoch;
        if (reserve(order, 1)) return NO_MEMORY;
        order->ids[order->count++] = roots[r];
    }
    /* order->ids[seen..count) are listed, their children not yet looked at */
    for (size_t seen = 0; seen < order->count; seen++) {
        const mgc_node *node = mgc__node(order->ids[seen]);
        if (reserve(order, mgc__child_count(node))) return NO_MEMORY;
        order->count += mark_children(node, with_leaves, epoch, order->ids + order->count);
    }
    return OUT_OF_ORDER;
}

static inline uint64_t stamp_of(mgc_id id) { return mgc__node(id)->stamp; }

/* merges the runs a[0..mid) and a[mid..n) (each by descending stamp) into out */
static void merge(const mgc_id *a, size_t mid, size_t n, mgc_id *out) {
    size_t i = 0, j = mid, k = 0;
    while (i < mid && j < n) out[k++] = stamp_of(a[i]) > stamp_of(a[j]) ? a[i++] : a[j++];
    while (i < mid) out[k++] = a[i++];
    while (j < n) out[k++] = a[j++];
}

/* order->ids sorted by descending stamp: a merge sort of the runs already in
 * order (a sweep's list is a few long runs: the cursor wrapped round once or
 * twice), so a nearly ordered list costs little more than a copy. 0 or -1 */
static int sort_by_stamp(mgc_order *order) {
    size_t n = order->count, runs = 0;
    if (order->other_capacity < n) {
        mgc_id *bigger = realloc(order->other, n * sizeof(mgc_id));
        if (!bigger) return -1;
        order->other = bigger;
        order->other_capacity = n;
    }
    if (order->starts_capacity < n + 1) {
        size_t *bigger = realloc(order->starts, (n + 1) * sizeof(size_t));
        if (!bigger) return -1;
        order->starts = bigger;
        order->starts_capacity = n + 1;
    }
    mgc_id *a = order->ids, *b = order->other;
    size_t *starts = order->starts;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || stamp_of(a[i]) > stamp_of(a[i - 1])) starts[runs++] = i;
    starts[runs] = n;
    while (runs > 1) {  /* merge neighbouring runs, halving their number */
        size_t merged = 0;
        for (size_t r = 0; r < runs; r += 2) {
            size_t from = starts[r], mid = starts[r + 1], to = r + 2 <= runs ? starts[r + 2] : mid;
            merge(a + from, mid - from, to - from, b + from);
            starts[merged++] = from;
        }
        starts[merged] = n;
        runs = merged;
        mgc_id *swap = a;
        a = b;
        b = swap;
    }
    if (a != order->ids) {  /* the sorted list is in the other buffer: swap them */
        order->other = order->ids;
        order->ids = a;
        size_t capacity = order->capacity;
        order->capacity = order->other_capacity;
        order->other_capacity = capacity;
    }
    return 0;
}

int mgc__order(const mgc_id *roots, size_t root_count, int with_leaves, mgc_order *order,
               uint32_t *epoch) {
    order->count = 0;
    *epoch = mgc__next_epoch();
    int status = sweep(roots, root_count, with_leaves, *epoch, order);
    if (status == TOO_SPREAD) {
        order->count = 0;
        *epoch = mgc__next_epoch();
        status = collect(roots, root_count, with_leaves, *epoch, order);
    }
    if (status == OUT_OF_ORDER) status = sort_by_stamp(order);
    return status == IN_ORDER ? 0 : -1;
}

/* ----------------------------------------------------------------------------
 * backward: the root's grad set to 1, then every reached node's local rule,
 * parents before children, accumulating with += */

/* the grad of the missing second child of a unary node: written, never read */
static double no_child_grad;

static inline void apply_rule(mgc_id id, const mgc_node *node) {
    if (node->flags & MGC_DOT_FLAG) {
        const mgc_dot_in *dot = node->in.dot;
        mgc__dot_backward(mgc__dot_w(dot), mgc__dot_x(dot), dot->n, dot->has_bias, *mgc__grad(id),
                          mgc__node_slot, NULL);
        return;
    }
    if (node->flags & MGC_NARY_FLAG) {
        if (node->op != MGC_OPAQUE) mgc__loss_node_backward(id, node);
        return;
    }
    mgc_id a = node->in.child[0], b = node->in.child[1];
    double *b_grad = b ? mgc__grad(b) : &no_child_grad;
    mgc__backward(node->op, *mgc__data(a), b ? *mgc__data(b) : 0.0, *mgc__data(id),
                  *mgc__grad(id), mgc__grad(a), b_grad);
}

/* applies the rules of order->ids[from...] until a node whose rule is in
 * Python: returns its index, or order->count when none is left */
static size_t apply_until_python(const mgc_order *order, size_t from) {
    for (size_t i = from; i < order->count; i++) {
        mgc_node *node = mgc__node(order->ids[i]);
        if (__builtin_expect(node->flags & MGC_PY_RULE, 0)) return i;
        apply_rule(order->ids[i], node);
    }
    return order->count;
}

/* a backward pass paused at a node whose rule is in Python */
struct mgc_sweep {
    mgc_order order;             /* the pass's order, owned by the sweep */
    size_t next;                 /* where the pass goes on */
    mgc_id root;                 /* held: everything in order stays alive */
};

int mgc_backward(mgc_id root, mgc_sweep **paused) {
    *paused = NULL;
    mgc_sweep *sweep = malloc(sizeof *sweep);  /* before any grad changes */
    if (!sweep) return -1;
    mgc__lock();
    mgc_order order = mgc__order_borrow();
    uint32_t epoch;
    int status = mgc__order(&root, 1, 0, &order, &epoch);
    if (status == 0) {
        *mgc__grad(root) = 1.0;
        size_t at = apply_until_python(&order, 0);
        if (at < order.count) {
            *sweep = (mgc_sweep){.order = order, .next = at, .root = root};
            mgc__node(root)->refs++;
            *paused = sweep;
            sweep = NULL;
            order = (mgc_order){0};
            status = 1;
        }
    }
    mgc__order_return(&order);
    mgc__arena.cursor = 0;  /* the next graph fills the holes from the bottom up */
    mgc__unlock();
    free(sweep);
    return status;
}

mgc_id mgc_sweep_next(mgc_sweep *sweep) {
    mgc__lock();
    size_t at = apply_until_python(&sweep->order, sweep->next);
    mgc_id id = at < sweep->order.count ? sweep->order.ids[at] : 0;
    sweep->next = at + (id != 0);
    mgc__unlock();
    return id;
}

void mgc_sweep_free(mgc_sweep *sweep) {
    mgc__lock();
    mgc__release(sweep->root);
    mgc__order_return(&sweep->order);
    mgc__unlock();
    free(sweep);
}

void mgc_set_py_rule(mgc_id id, int on) {
    mgc__lock();
    mgc_node *node = mgc__node(id);
    node->flags = on ? node->flags | MGC_PY_RULE : node->flags & ~MGC_PY_RULE;
    mgc__unlock();
}

void mgc_local_backward(mgc_id id) {
    mgc__lock();
    mgc_node *node = mgc__node(id);
    if (mgc__has_children(node)) apply_rule(id, node);
    mgc__unlock();
}
