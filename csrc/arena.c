/*
 * arena.c: node storage, ids, lifetimes, texts, and the core's lock.
 *
 * Nodes live in chunks of 65,536 records that never move, so a node's id is
 * (chunk << 16 | slot) for as long as the node lives. A node is held by
 * references (a Python facade each, a parent each); when the last one goes the
 * node returns to a free list and releases its children, iteratively: a chain
 * can be millions of nodes long. This file does not know what an op computes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(mgc_node) <= 48, "a node must fit in 48 bytes");

mgc_arena mgc__arena;

/* ----------------------------------------------------------------------------
 * the lock: cffi drops the GIL around every call, so threads meet here */

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

void mgc__lock(void) { pthread_mutex_lock(&arena_lock); }
void mgc__unlock(void) { pthread_mutex_unlock(&arena_lock); }

/* ----------------------------------------------------------------------------
 * allocation */

int mgc__reserve(mgc_id **array, size_t *capacity, size_t need) {
    if (need <= *capacity) return 0;
    size_t grown = *capacity ? *capacity : 1024;
    while (grown < need) {
        if (grown > SIZE_MAX / 2 / sizeof(mgc_id)) return -1;
        grown *= 2;
    }
    mgc_id *bigger = realloc(*array, grown * sizeof(mgc_id));
    if (!bigger) return -1;
    *array = bigger;
    *capacity = grown;
    return 0;
}

/* a chunk for ids from next_fresh on; 0 or -1 */
static int grow_chunks(mgc_arena *arena) {
    if (arena->chunk_count == (1u << (32 - MGC_CHUNK_BITS))) return -1;
    if (arena->chunk_count == arena->chunk_capacity) {
        uint32_t grown = arena->chunk_capacity ? arena->chunk_capacity * 2 : 16;
        mgc_node **table = realloc(arena->chunks, grown * sizeof(mgc_node *));
        if (!table) return -1;
        arena->chunks = table;
        arena->chunk_capacity = grown;
    }
    mgc_node *chunk = malloc(MGC_CHUNK_NODES * sizeof(mgc_node));
    if (!chunk) return -1;
    arena->chunks[arena->chunk_count++] = chunk;
    return 0;
}

mgc_id mgc__alloc(uint8_t op, double data) {
    mgc_arena *arena = &mgc__arena;
    mgc_id id = arena->free_list;
    if (id) {
        arena->free_list = mgc__node(id)->in.next;
    } else {
        if (arena->next_fresh == 0) arena->next_fresh = 1;  /* id 0 is never a node */
        if (arena->next_fresh >> 32) return 0;
        if ((arena->next_fresh >> MGC_CHUNK_BITS) >= arena->chunk_count &&
            grow_chunks(arena) != 0)
            return 0;
        id = (mgc_id)arena->next_fresh++;
    }
    mgc_node *node = mgc__node(id);
    memset(node, 0, sizeof *node);
    node->data = data;
    node->op = op;
    node->refs = 1;
    arena->live++;
    return id;
}

void mgc__adopt_children(mgc_node *node) {
    uint32_t count;
    const mgc_id *children = mgc__children(node, &count);
    for (uint32_t i = 0; i < count; i++) mgc__node(children[i])->refs++;
}

/* ----------------------------------------------------------------------------
 * texts: labels and opaque _op strings, in slots a node names by number */

static void free_text(uint32_t slot) {
    mgc_arena *arena = &mgc__arena;
    arena->text_bytes -= arena->text_lengths[slot] + 1;
    free(arena->texts[slot]);
    arena->texts[slot] = NULL;
    arena->text_lengths[slot] = arena->text_free;
    arena->text_free = slot;
}

/* a slot holding a copy of bytes; 0 when memory ran out */
static uint32_t new_text(const char *bytes, size_t length) {
    mgc_arena *arena = &mgc__arena;
    if (length == SIZE_MAX) return 0;
    char *copy = malloc(length + 1);
    if (!copy) return 0;
    memcpy(copy, bytes, length);
    copy[length] = '\0';
    uint32_t slot = arena->text_free;
    if (slot) {
        arena->text_free = (uint32_t)arena->text_lengths[slot];
    } else {
        if (arena->text_count == 0) arena->text_count = 1;  /* slot 0 means none */
        if (arena->text_count >= arena->text_capacity) {
            uint32_t grown = arena->text_capacity ? arena->text_capacity * 2 : 64;
            char **texts = grown > arena->text_capacity
                               ? realloc(arena->texts, grown * sizeof(char *)) : NULL;
            if (texts) arena->texts = texts;
            size_t *lengths = texts ? realloc(arena->text_lengths, grown * sizeof(size_t)) : NULL;
            if (!lengths) {
                free(copy);
                return 0;
            }
            arena->text_lengths = lengths;
            arena->text_capacity = grown;
        }
        slot = arena->text_count++;
    }
    arena->texts[slot] = copy;
    arena->text_lengths[slot] = length;
    arena->text_bytes += length + 1;
    return slot;
}

static uint32_t *text_field(mgc_node *node, int which) {
    return which == MGC_TEXT_OP ? &node->extra.nary.op_text : &node->label;
}

int mgc_set_text(mgc_id id, int which, const char *bytes, size_t length) {
    mgc__lock();
    mgc_node *node = mgc__node(id);
    int status = 0;
    if (which == MGC_TEXT_OP && node->op != MGC_OPAQUE) {
        status = -1;
    } else {
        uint32_t slot = length ? new_text(bytes, length) : 0;
        if (length && !slot) {
            status = -1;
        } else {
            uint32_t *field = text_field(node, which);
            if (*field) free_text(*field);
            *field = slot;
        }
    }
    mgc__unlock();
    return status;
}

size_t mgc_text(mgc_id id, int which, char *out, size_t capacity) {
    mgc__lock();
    mgc_node *node = mgc__node(id);
    size_t length = 0;
    if (which != MGC_TEXT_OP || node->op == MGC_OPAQUE) {
        uint32_t slot = *text_field(node, which);
        if (slot) {
            length = mgc__arena.text_lengths[slot];
            if (capacity) memcpy(out, mgc__arena.texts[slot], length < capacity ? length : capacity);
        }
    }
    mgc__unlock();
    return length;
}

/* ----------------------------------------------------------------------------
 * release: the dying are linked through mark, so a cascade allocates nothing */

void mgc__release(mgc_id id) {
    mgc_arena *arena = &mgc__arena;
    mgc_node *node = mgc__node(id);
    if (--node->refs) return;
    mgc_id dying = id;
    node->mark = 0;
    while (dying) {
        node = mgc__node(dying);
        mgc_id current = dying;
        dying = node->mark;
        uint32_t count;
        const mgc_id *children = mgc__children(node, &count);
        for (uint32_t i = 0; i < count; i++) {
            mgc_node *child = mgc__node(children[i]);
            if (--child->refs == 0) {
                child->mark = dying;
                dying = children[i];
            }
        }
        if (node->flags & MGC_NARY_FLAG) {
            arena->edge_bytes -= (size_t)node->extra.nary.count * sizeof(mgc_id);
            free(node->in.edges);
        }
        if (node->op == MGC_OPAQUE && node->extra.nary.op_text) free_text(node->extra.nary.op_text);
        if (node->label) free_text(node->label);
        node->in.next = arena->free_list;
        arena->free_list = current;
        arena->live--;
    }
}

void mgc_retain(mgc_id id) {
    mgc__lock();
    mgc__node(id)->refs++;
    mgc__unlock();
}

void mgc_release_many(const mgc_id *ids, size_t count) {
    mgc__lock();
    for (size_t i = 0; i < count; i++)
        if (ids[i]) mgc__release(ids[i]);
    mgc__unlock();
}

/* ----------------------------------------------------------------------------
 * reading and writing */

double mgc_data(mgc_id id) {
    mgc__lock();
    double data = mgc__node(id)->data;
    mgc__unlock();
    return data;
}

void mgc_set_data(mgc_id id, double data) {
    mgc__lock();
    mgc__node(id)->data = data;
    mgc__unlock();
}

double mgc_grad(mgc_id id) {
    mgc__lock();
    double grad = mgc__node(id)->grad;
    mgc__unlock();
    return grad;
}

void mgc_set_grad(mgc_id id, double grad) {
    mgc__lock();
    mgc__node(id)->grad = grad;
    mgc__unlock();
}

int mgc_op(mgc_id id) {
    mgc__lock();
    int op = mgc__node(id)->op;
    mgc__unlock();
    return op;
}

double mgc_exponent(mgc_id id, int *is_int) {
    mgc__lock();
    mgc_node *node = mgc__node(id);
    double exponent = node->op == MGC_POW ? node->extra.exponent : 0.0;
    *is_int = (node->flags & MGC_INT_EXPONENT) != 0;
    mgc__unlock();
    return exponent;
}

size_t mgc_children(mgc_id id, mgc_id *out, size_t capacity) {
    mgc__lock();
    uint32_t count;
    const mgc_id *children = mgc__children(mgc__node(id), &count);
    if (capacity) memcpy(out, children, (count < capacity ? count : capacity) * sizeof(mgc_id));
    mgc__unlock();
    return count;
}

/* ----------------------------------------------------------------------------
 * statistics */

size_t mgc_live_nodes(void) {
    mgc__lock();
    size_t live = mgc__arena.live;
    mgc__unlock();
    return live;
}

size_t mgc_bytes(void) {
    mgc__lock();
    const mgc_arena *arena = &mgc__arena;
    /* nodes up to the high-water mark: chunk pages past it are never touched */
    size_t bytes = (size_t)arena->next_fresh * sizeof(mgc_node) +
                   arena->chunk_capacity * sizeof(mgc_node *) + arena->edge_bytes +
                   (arena->stack_capacity + arena->order_capacity) * sizeof(mgc_id) +
                   arena->text_capacity * (sizeof(char *) + sizeof(size_t)) + arena->text_bytes;
    mgc__unlock();
    return bytes;
}

size_t mgc_node_bytes(void) { return sizeof(mgc_node); }
