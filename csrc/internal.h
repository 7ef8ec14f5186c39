/*
 * internal.h: the node record and the arena, shared by the files of csrc/.
 *
 * Not part of the public interface: Python never sees a node, only its id.
 * Everything here runs with the core's lock held (see mgc__lock).
 */
#ifndef MICROGRADC_INTERNAL_H
#define MICROGRADC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "microgradc.h"

/* ----------------------------------------------------------------------------
 * the node record */

#define MGC_NARY_FLAG 0x1u       /* children live in an edge array */
#define MGC_INT_EXPONENT 0x2u    /* pow exponent was given as an int */

typedef struct {
    double data;                 /* forward value */
    double grad;                 /* d(root)/d(node), accumulated with += */
    union {
        mgc_id child[2];         /* up to two children; 0 = none */
        mgc_id *edges;           /* n-ary: malloc'd child ids (MGC_NARY_FLAG) */
        mgc_id next;             /* while free or being released: next in list */
    } in;
    union {
        double exponent;         /* MGC_POW: the constant exponent */
        struct {
            uint32_t count;      /* n-ary: number of children in edges */
            uint32_t op_text;    /* MGC_OPAQUE: text slot of its _op, 0 = none */
        } nary;
    } extra;
    uint32_t refs;               /* facades and parents holding the node; 0 = free */
    uint32_t mark;               /* epoch of the last topological visit */
    uint32_t label;              /* text slot of the label, 0 = none */
    uint8_t op;                  /* enum mgc_op */
    uint8_t flags;               /* MGC_NARY_FLAG | MGC_INT_EXPONENT */
} mgc_node;

/* ----------------------------------------------------------------------------
 * the arena: chunks of nodes that never move, so an id stays valid as it grows */

#define MGC_CHUNK_BITS 16
#define MGC_CHUNK_NODES (1u << MGC_CHUNK_BITS)

typedef struct {
    mgc_node **chunks;           /* chunk table; chunk i holds ids i<<16 .. */
    uint32_t chunk_count;        /* chunks allocated */
    uint32_t chunk_capacity;     /* slots in the chunk table */
    uint64_t next_fresh;         /* lowest id never handed out (id 0 is never a node) */
    mgc_id free_list;            /* freed nodes, linked through in.next; 0 = empty */
    size_t live;                 /* nodes with refs > 0 */
    size_t edge_bytes;           /* bytes held in n-ary edge arrays */
    uint32_t epoch;              /* stamp of the current topological walk */
    mgc_id *stack;               /* scratch for walks: (id, next child) pairs */
    size_t stack_capacity;       /* in mgc_id entries */
    mgc_id *order;               /* scratch for walks: topological order */
    size_t order_capacity;       /* in mgc_id entries */
    char **texts;                /* text slots; slot 0 unused */
    size_t *text_lengths;        /* byte length of each text */
    uint32_t text_count;         /* slots in use or free */
    uint32_t text_capacity;      /* slots allocated */
    uint32_t text_free;          /* a free slot, linked through text_lengths; 0 = none */
    size_t text_bytes;           /* bytes held in texts */
} mgc_arena;

extern mgc_arena mgc__arena;

static inline mgc_node *mgc__node(mgc_id id) {
    return &mgc__arena.chunks[id >> MGC_CHUNK_BITS][id & (MGC_CHUNK_NODES - 1)];
}

/* the one lock around the arena; every public function holds it */
void mgc__lock(void);
void mgc__unlock(void);

/* a fresh node with refs = 1, grad = 0, no children; 0 when memory ran out */
mgc_id mgc__alloc(uint8_t op, double data);
/* hand a node a reference to each child it names */
void mgc__adopt_children(mgc_node *node);
/* drop one reference; frees and cascades iteratively at zero */
void mgc__release(mgc_id id);

/* the children of a node as a pointer and count, whatever its storage */
static inline const mgc_id *mgc__children(const mgc_node *node, uint32_t *count) {
    if (node->flags & MGC_NARY_FLAG) {
        *count = node->extra.nary.count;
        return node->in.edges;
    }
    *count = node->in.child[0] == 0 ? 0 : node->in.child[1] == 0 ? 1 : 2;
    return node->in.child;
}

/* grow a scratch array of mgc_id to hold at least need entries; 0 or -1 */
int mgc__reserve(mgc_id **array, size_t *capacity, size_t need);

#endif
