/*
 * internal.h: the node record and the arena, shared by the files of csrc/.
 *
 * Not part of the public interface: Python never sees a node, only its id.
 * Everything here runs with the core's lock held (see mgc__lock).
 *
 * Order: every node carries a stamp, its place in the sequence of all nodes
 * ever made. A parent is always made after its children, so descending
 * stamps are a topological order that depends on the program alone, not on
 * which ids were free. Ids are handed out so that they mostly follow the
 * stamps and always lie above the children's (arena.c), which lets backward
 * find that order by one sweep down the ids (graph.c).
 */
#ifndef MICROGRADC_INTERNAL_H
#define MICROGRADC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "microgradc.h"

/* ----------------------------------------------------------------------------
 * the node record */

#define MGC_NARY_FLAG 0x1u       /* children live in an edge array */
#define MGC_INT_EXPONENT 0x2u    /* MGC_POW: the exponent was given as an int */
#define MGC_MEAN_FLAG 0x4u       /* MGC_MSE: the mean, not the sum */
#define MGC_LEAF_CHILD0 0x8u     /* child[0] has no children: a walk need not look at it */
#define MGC_LEAF_CHILD1 0x10u    /* child[1] has no children */
#define MGC_PY_RULE 0x20u        /* the local rule is a Python _backward: backward pauses for it */
#define MGC_DOT_FLAG 0x40u       /* MGC_DOT: its operands are runs of shared operand lists */

/* an edge array: [count, op text slot, child ids..., extra words]; the ops
 * with extra words are MGC_SOFTMAX_CE (one class index a row, the number of
 * classes in the text slot) and MGC_SELECT (the row it selected) */
#define MGC_EDGE_COUNT 0
#define MGC_EDGE_TEXT 1
#define MGC_EDGE_HEADER 2

/* Operands shared by dots: a layer's parameters (each neuron's weights, then
 * its bias), kept by the layer object for its life, or the inputs of one call
 * of a layer, kept by that call's dots. A dot reads a run of one list, so a
 * layer applied to a minibatch holds each weight id once, not once a row and
 * neuron, and walks over the graph look at each run once (mark_run). The list
 * holds one reference on each id; the dots reading it and its maker hold it. */
struct mgc_operands {
    uint32_t refs;               /* dots and makers holding the list; 0 = freed */
    uint32_t count;              /* ids */
    mgc_id top;                  /* the highest id: a dot's id goes above it */
    uint8_t leaves_only;         /* no id has children: a walk without leaves skips it */
    uint8_t gaps;                /* the last walk reached runs of it that do not join up */
    uint64_t mark;               /* the last walk that reached a run of it (mgc__walk_stamp) */
    uint32_t lo, hi;             /* that walk reached ids[lo..hi) through it (unless gaps) */
    uint64_t pass;               /* a tape build's scratch: the pass that set at ... */
    uint32_t at;                 /* ... and what it set */
    mgc_id ids[];
};

/* a MGC_DOT node's operands: weights w->ids[w_at ..+ n) then, with has_bias, its
 * bias right after them; inputs x->ids[x_at ..+ n) */
typedef struct {
    mgc_operands *w, *x;
    uint32_t w_at, x_at, n;
    uint8_t has_bias;
} mgc_dot_in;

/* A node's value and grad are not in its record: each chunk keeps them in
 * arrays of their own (mgc__data, mgc__grad), so the passes that touch only
 * numbers (an optimizer step, zero_grad, a compiled layer reading its weights)
 * stream through 16 bytes a node, in runs where ids are consecutive. */
typedef struct {
    uint64_t stamp;              /* when it was made: greater than every child's */
    union {
        mgc_id child[2];         /* up to two children, 0 = none; MGC_POW keeps its
                                    exponent as a leaf in child[1] */
        mgc_id *edges;           /* MGC_NARY_FLAG: malloc'd edge array */
        mgc_dot_in *dot;         /* MGC_DOT_FLAG: malloc'd */
    } in;
    uint32_t refs;               /* facades and parents holding the node; 0 = free */
    uint32_t mark;               /* epoch of the last walk that reached the node;
                                    while being released: the next dying node */
    uint32_t label;              /* text slot of the label, 0 = none */
    uint8_t op;                  /* enum mgc_op */
    uint8_t flags;               /* the MGC_... bits above */
} mgc_node;

/* ----------------------------------------------------------------------------
 * the arena: chunks of nodes that never move, so an id stays valid as it grows */

#define MGC_CHUNK_BITS 16
#define MGC_CHUNK_NODES (1u << MGC_CHUNK_BITS)
#define MGC_MAX_NODES 0xFFFFFFFFu

/* one chunk: ids c << 16 ... (c << 16) + 65535, in one allocation */
typedef struct {
    double *data;                /* forward values */
    double *grad;                /* d(root)/d(node), accumulated with += */
    mgc_node *nodes;             /* the records */
    uint64_t *int_data;          /* bit set: a leaf's data was given as an int (only how it
                                    prints); cleared by anything that writes a float */
} mgc_chunk;

typedef struct {
    mgc_chunk *chunks;           /* chunk table; chunk i holds ids i << 16 ... */
    uint32_t chunk_count;        /* chunks allocated */
    uint32_t chunk_capacity;     /* slots in the chunk table */
    uint64_t next_fresh;         /* lowest id never handed out (id 0 is never a node) */
    uint64_t *free_bits;         /* bit i set: id i is free; one word per 64 ids */
    uint64_t *free_summary;      /* bit w set: free_bits[w] has a set bit */
    mgc_id cursor;               /* the last id given to a node with children: the next
                                    goes above it while there is room, so ids follow stamps */
    uint64_t stamps;             /* stamps handed out */
    size_t live;                 /* nodes with refs > 0 */
    size_t edge_bytes;           /* bytes held in edge arrays */
    uint32_t epoch;              /* number of the current walk; marks equal to it are reached */
    uint32_t wraps;              /* how many times epoch wrapped round (mgc__walk_stamp) */
    char **texts;                /* text slots; slot 0 unused */
    size_t *text_lengths;        /* byte length of each text; free slots: next free */
    uint32_t text_count;         /* slots in use or free */
    uint32_t text_capacity;      /* slots allocated */
    uint32_t text_free;          /* a free slot; 0 = none */
    size_t text_bytes;           /* bytes held in texts */
    double *loss_scratch;        /* values and grads of a loss node's children: room for
                                    the largest loss ever made, so backward never allocates */
    size_t loss_scratch_capacity; /* in doubles */
} mgc_arena;

/* a loop the compiler should vectorize: cloned for AVX2 with a portable default
 * (the wheel runs on any x86-64), never contracted into fused multiply-adds */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MGC_VECTOR __attribute__((target_clones("avx2", "default"), optimize("tree-vectorize")))
#else
#define MGC_VECTOR
#endif

/* hidden: reached without the indirection an exported symbol costs */
extern mgc_arena mgc__arena __attribute__((visibility("hidden")));

static inline mgc_node *mgc__node(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS].nodes[id & (MGC_CHUNK_NODES - 1)];
}

static inline double *mgc__data(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS].data[id & (MGC_CHUNK_NODES - 1)];
}

static inline double *mgc__grad(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS].grad[id & (MGC_CHUNK_NODES - 1)];
}

/* the int-data bit of id (see mgc_chunk) */
static inline uint64_t *mgc__int_data_word(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS].int_data[(id & (MGC_CHUNK_NODES - 1)) / 64];
}

static inline int mgc__is_int_data(mgc_id id) { return (*mgc__int_data_word(id) >> (id % 64)) & 1; }

static inline void mgc__set_int_data(mgc_id id, int is_int) {
    uint64_t *word = mgc__int_data_word(id), bit = 1ull << (id % 64);
    *word = is_int ? *word | bit : *word & ~bit;
}

/* the one lock around the arena; every public function holds it */
void mgc__lock(void);
void mgc__unlock(void);

/* a fresh node with refs = 1, grad = 0 and no children, a new stamp, and an id
 * above `above` (the highest id among the children it will have, 0 for a
 * leaf); 0 when memory ran out */
mgc_id mgc__alloc(uint8_t op, double data, mgc_id above);
/* a new epoch for marking reached nodes; never 0, so a mark of 0 is never reached */
uint32_t mgc__next_epoch(void);
/* a walk's epoch as a number no other walk has had: operand lists, which a wrap of
 * the epochs does not clear, are marked with it */
static inline uint64_t mgc__walk_stamp(uint32_t epoch) {
    return (uint64_t)mgc__arena.wraps << 32 | epoch;
}

/* ----------------------------------------------------------------------------
 * the order of a graph (graph.c) */

typedef struct {
    mgc_id *ids;                 /* reached nodes, by descending stamp: parents first */
    size_t count;                /* entries in ids */
    size_t capacity;             /* ids allocated */
    mgc_id *other;               /* a second list for sorting (swapped with ids) */
    size_t other_capacity;       /* ids allocated in other */
    size_t *starts;              /* where each sorted run starts (never swapped) */
    size_t starts_capacity;      /* entries allocated in starts */
} mgc_order;

/* the nodes roots reach (leaves too if with_leaves, else only nodes with
 * children), by descending stamp, in order->ids. Reached nodes are marked
 * with a new epoch, returned in *epoch. 0, or -1 when memory ran out */
int mgc__order(const mgc_id *roots, size_t root_count, int with_leaves, mgc_order *order,
               uint32_t *epoch);
/* memory for an order, lent to one caller at a time; give it back when done */
mgc_order mgc__order_borrow(void);
void mgc__order_return(mgc_order *order);
/* bytes kept between walks */
size_t mgc__order_bytes(void);
/* bytes of the table of each node's Python facade (facade.c) */
size_t mgc__facade_bytes(void);

/* drop one reference; frees and cascades iteratively at zero */
void mgc__release(mgc_id id);
/* an n-ary node over count children, with extra words after them in its edge
 * array for the op's own use; one reference for the caller; 0 when memory ran out */
mgc_id mgc__nary(int op, double data, const mgc_id *children, size_t count, size_t extra);
/* a new operand list over ids[0..count), then last unless it is 0, with one hold
 * for the caller; NULL when memory ran out */
mgc_operands *mgc__operands(const mgc_id *ids, size_t count, mgc_id last);
/* drops one hold on list; when the last goes it releases its ids */
void mgc__operands_drop(mgc_operands *list);
/* a MGC_DOT node reading w->ids[w_at ..+ n (+ 1 with has_bias)) and x->ids[x_at ..+ n),
 * holding both lists, whose value is sum (the caller adds it as mgc__dot_forward
 * does); 0 when memory ran out */
mgc_id mgc__dot(mgc_operands *w, uint32_t w_at, mgc_operands *x, uint32_t x_at, uint32_t n,
                int has_bias, double sum);
/* ----------------------------------------------------------------------------
 * kernels (losses.c): n-ary nodes computed over their children's values
 * gathered into v[0..count), accumulating gradients into gv[0..count): the
 * fused losses, logsumexp, select and shift */

/* whether op is computed by a kernel */
static inline int mgc__is_kernel(int op) { return op >= MGC_MSE && op <= MGC_SHIFT; }

typedef struct {
    int op;                      /* MGC_MSE ... MGC_SHIFT */
    uint32_t count;              /* children */
    int mean;                    /* MGC_MSE: mean, not sum */
    uint32_t classes;            /* MGC_SOFTMAX_CE(_PROBS): row length */
    const uint32_t *targets;     /* MGC_SOFTMAX_CE: one class a row */
} mgc_loss;

double mgc__loss_forward(const mgc_loss *loss, const double *v);
/* out: the node's value, as forward gave it */
void mgc__loss_backward(const mgc_loss *loss, const double *v, double out, double g, double *gv);
/* the loss a node computes, and its local rule in the eager graph */
mgc_loss mgc__node_loss(const mgc_node *node);
void mgc__loss_node_backward(mgc_id id, const mgc_node *node);
/* a kernel node over children (loss.count of them); one reference for the
 * caller; 0 when memory ran out */
mgc_id mgc__kernel_node(mgc_loss loss, const mgc_id *children);
/* a node of op over children a and b (0 = absent), as mgc_binary makes it */
mgc_id mgc__make(int op, mgc_id a, mgc_id b);

/* ----------------------------------------------------------------------------
 * worker threads (pool.c): fn(context, part, parts) runs for part = 0 ... parts-1,
 * part 0 on the caller; the parts must write disjoint outputs */

typedef struct mgc_pool mgc_pool;
typedef void (*mgc_pool_task)(void *context, uint32_t part, uint32_t parts);

/* parts - 1 workers; NULL if parts < 2, or when they could not be started */
mgc_pool *mgc__pool_new(uint32_t parts);
void mgc__pool_free(mgc_pool *pool);
/* every part of fn, returning when all are done (a NULL pool, or one made before a
 * fork, runs fn(context, 0, 1) on the caller) */
void mgc__pool_run(mgc_pool *pool, mgc_pool_task fn, void *context);

/* the range [*from, *to) of part of parts over n items, in steps of unit */
static inline void mgc__part_range(uint32_t n, uint32_t unit, uint32_t part, uint32_t parts,
                                   uint32_t *from, uint32_t *to) {
    uint32_t units = (n + unit - 1) / unit;
    uint32_t a = (uint32_t)((uint64_t)units * part / parts) * unit;
    uint32_t b = (uint32_t)((uint64_t)units * (part + 1) / parts) * unit;
    *from = a < n ? a : n;
    *to = b < n ? b : n;
}

/* an arena node's value or grad, as ops.h's kernels reach a child */
static inline double *mgc__node_slot(void *unused, uint32_t id, int grad) {
    (void)unused;
    return grad ? mgc__grad(id) : mgc__data(id);
}

/* a dot's weights (then its bias) and its inputs */
static inline const mgc_id *mgc__dot_w(const mgc_dot_in *dot) { return dot->w->ids + dot->w_at; }
static inline const mgc_id *mgc__dot_x(const mgc_dot_in *dot) { return dot->x->ids + dot->x_at; }

/* how many children a node has: a dot's are its weights, its inputs, then its bias */
static inline uint32_t mgc__child_count(const mgc_node *node) {
    if (node->flags & MGC_DOT_FLAG) return 2 * node->in.dot->n + node->in.dot->has_bias;
    if (node->flags & MGC_NARY_FLAG) return node->in.edges[MGC_EDGE_COUNT];
    return node->in.child[0] == 0 ? 0 : node->in.child[1] == 0 ? 1 : 2;
}

/* every id a node that is not a dot holds a reference to (for POW, the exponent
 * leaf too); a dot's are in runs of its operand lists (mgc__dot_w, mgc__dot_x) */
static inline const mgc_id *mgc__children(const mgc_node *node, uint32_t *count) {
    if (node->flags & MGC_NARY_FLAG) {
        *count = node->in.edges[MGC_EDGE_COUNT];
        return node->in.edges + MGC_EDGE_HEADER;
    }
    *count = node->in.child[0] == 0 ? 0 : node->in.child[1] == 0 ? 1 : 2;
    return node->in.child;
}

/* whether a node has children */
static inline int mgc__has_children(const mgc_node *node) { return mgc__child_count(node) != 0; }

/* takes a reference on a binary node's child k (0 or 1), noting if it is a leaf */
static inline void mgc__link_child(mgc_node *node, int k) {
    mgc_node *child = mgc__node(node->in.child[k]);
    child->refs++;
    if (!mgc__has_children(child)) node->flags |= k ? MGC_LEAF_CHILD1 : MGC_LEAF_CHILD0;
}

/* the words of a node's edge array: softmax_ce keeps a class a row after its
 * children, select the row it selected */
static inline size_t mgc__edge_words(const mgc_node *node) {
    const mgc_id *edges = node->in.edges;
    size_t count = edges[MGC_EDGE_COUNT];
    size_t extra = node->op == MGC_SOFTMAX_CE ? count / edges[MGC_EDGE_TEXT]
                   : node->op == MGC_SELECT   ? 1
                                              : 0;
    return MGC_EDGE_HEADER + count + extra;
}

#endif
