/*
 * internal.h: the node record and the arena, shared by the files of csrc/.
 *
 * Not part of the public interface: Python never sees a node, only its id.
 * Everything here runs with the core's lock held (see mgc__lock).
 *
 * The one invariant the rest leans on: a node's id is greater than the id of
 * every child it has. Descending id order is therefore a topological order
 * (parents before children), and backward is a linear sweep (graph.c).
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

/* an edge array: [count, op text slot, child ids..., extra words]; the only
 * op with extra words is MGC_SOFTMAX_CE: one class index a row, the number of
 * classes in the text slot */
#define MGC_EDGE_COUNT 0
#define MGC_EDGE_TEXT 1
#define MGC_EDGE_HEADER 2

typedef struct {
    double data;                 /* forward value */
    double grad;                 /* d(root)/d(node), accumulated with += */
    union {
        mgc_id child[2];         /* up to two children, 0 = none; MGC_POW keeps its
                                    exponent as a leaf in child[1] */
        mgc_id *edges;           /* MGC_NARY_FLAG: malloc'd edge array */
    } in;
    uint32_t refs;               /* facades and parents holding the node; 0 = free */
    uint32_t mark;               /* epoch of the last backward that reached the node;
                                    while being released: the next dying node */
    uint32_t label;              /* text slot of the label, 0 = none */
    uint8_t op;                  /* enum mgc_op */
    uint8_t flags;               /* MGC_NARY_FLAG | MGC_INT_EXPONENT */
} mgc_node;

/* ----------------------------------------------------------------------------
 * the arena: chunks of nodes that never move, so an id stays valid as it grows */

#define MGC_CHUNK_BITS 16
#define MGC_CHUNK_NODES (1u << MGC_CHUNK_BITS)
#define MGC_MAX_NODES 0xFFFFFFFFu

typedef struct {
    mgc_node **chunks;           /* chunk table; chunk i holds ids i << 16 ... */
    uint32_t chunk_count;        /* chunks allocated */
    uint32_t chunk_capacity;     /* slots in the chunk table */
    uint64_t next_fresh;         /* lowest id never handed out (id 0 is never a node) */
    uint64_t *free_bits;         /* bit i set: id i is free; one word per 64 ids */
    uint64_t *free_summary;      /* bit w set: free_bits[w] has a set bit */
    size_t live;                 /* nodes with refs > 0 */
    size_t edge_bytes;           /* bytes held in edge arrays */
    uint32_t epoch;              /* stamp of the current backward */
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

extern mgc_arena mgc__arena;

static inline mgc_node *mgc__node(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS][id & (MGC_CHUNK_NODES - 1)];
}

/* the one lock around the arena; every public function holds it */
void mgc__lock(void);
void mgc__unlock(void);

/* a fresh node with an id greater than above, refs = 1, grad = 0 and no
 * children; 0 when memory ran out */
mgc_id mgc__alloc(uint8_t op, double data, mgc_id above);
/* a new stamp for marking reached nodes; never 0, so a mark of 0 is never reached */
uint32_t mgc__next_epoch(void);
/* drop one reference; frees and cascades iteratively at zero */
void mgc__release(mgc_id id);
/* an n-ary node over count children, with extra words after them in its edge
 * array for the op's own use; one reference for the caller; 0 when memory ran out */
mgc_id mgc__nary(int op, double data, const mgc_id *children, size_t count, size_t extra);
/* a MGC_DOT node (see mgc_dot); 0 when memory ran out */
mgc_id mgc__dot(const mgc_id *w, const mgc_id *x, size_t count, mgc_id bias);
/* ----------------------------------------------------------------------------
 * fused losses (losses.c): kernels over the children's values v[0..count),
 * accumulating gradients into gv[0..count) */

typedef struct {
    int op;                      /* MGC_MSE ... MGC_SOFTMAX_CE_PROBS */
    uint32_t count;              /* children */
    int mean;                    /* MGC_MSE: mean, not sum */
    uint32_t classes;            /* MGC_SOFTMAX_CE(_PROBS): row length */
    const uint32_t *targets;     /* MGC_SOFTMAX_CE: one class a row */
} mgc_loss;

double mgc__loss_forward(const mgc_loss *loss, const double *v);
void mgc__loss_backward(const mgc_loss *loss, const double *v, double g, double *gv);
/* the loss a node computes, and its local rule in the eager graph */
mgc_loss mgc__node_loss(const mgc_node *node);
void mgc__loss_node_backward(const mgc_node *node);

/* an arena node's value or grad, as ops.h's kernels reach a child */
static inline double *mgc__node_slot(void *unused, uint32_t id, int grad) {
    (void)unused;
    return grad ? &mgc__node(id)->grad : &mgc__node(id)->data;
}

/* every id the node holds a reference to (for POW, the exponent leaf too) */
static inline const mgc_id *mgc__children(const mgc_node *node, uint32_t *count) {
    if (node->flags & MGC_NARY_FLAG) {
        *count = node->in.edges[MGC_EDGE_COUNT];
        return node->in.edges + MGC_EDGE_HEADER;
    }
    *count = node->in.child[0] == 0 ? 0 : node->in.child[1] == 0 ? 1 : 2;
    return node->in.child;
}

/* the words of a node's edge array */
static inline size_t mgc__edge_words(const mgc_node *node) {
    const mgc_id *edges = node->in.edges;
    size_t count = edges[MGC_EDGE_COUNT];
    size_t extra = node->op == MGC_SOFTMAX_CE ? count / edges[MGC_EDGE_TEXT] : 0;
    return MGC_EDGE_HEADER + count + extra;
}

#endif
