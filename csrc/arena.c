/*
 * arena.c: node storage, ids, lifetimes, texts, and the core's lock.
 *
 * Nodes live in chunks of 65,536 records that never move, so a node's id is
 * (chunk << 16 | slot) for as long as the node lives. A node is held by
 * references (a Python facade each, a parent each); when the last one goes the
 * node's id is freed and it releases its children, iteratively: a chain can be
 * millions of nodes long. This file does not know what an op computes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(mgc_node) == 32, "a node's record is 32 bytes, its value and grad 16 more");

mgc_arena mgc__arena;

/* ----------------------------------------------------------------------------
 * the lock: the calls that release the GIL (build.py) can meet any other here */

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

void mgc__lock(void) { pthread_mutex_lock(&arena_lock); }
void mgc__unlock(void) { pthread_mutex_unlock(&arena_lock); }

/* fork: the forking thread takes the lock first, so no other thread is inside the
 * core when the process is copied; parent and child each go on with the arena
 * consistent and the lock free (in the child, the forking thread is its owner) */
__attribute__((constructor)) static void lock_around_fork(void) {
    pthread_atfork(mgc__lock, mgc__unlock, mgc__unlock);
}

/* ----------------------------------------------------------------------------
 * allocation: the free ids are a two-level bitmap, so "the lowest free id
 * above m" is a few word scans. A node with children gets the lowest free id
 * above both its children and the cursor (the last such id given), so the
 * ids of a graph being built climb as its stamps do; when nothing is free up
 * there the cursor wraps round and the node takes the lowest free id above
 * its children, and only when there is none the arena grows: memory is
 * reused as tightly as "lowest free id above the children" alone would.
 * backward() sends the cursor back down, so the next graph fills the holes
 * the last one left from the bottom up. A leaf takes the lowest free id:
 * where a leaf lies does not matter to any order. */

/* the bytes of one chunk: values, grads, records, int-data bits */
#define CHUNK_BYTES ((size_t)MGC_CHUNK_NODES * (2 * sizeof(double) + sizeof(mgc_node)) + MGC_CHUNK_NODES / 8)

/* one more chunk of nodes, and the free bits to cover it; 0 or -1 */
static int grow_chunks(mgc_arena *arena) {
    if (arena->chunk_count == arena->chunk_capacity) {
        uint32_t grown = arena->chunk_capacity ? arena->chunk_capacity * 2 : 16;
        mgc_chunk *table = realloc(arena->chunks, grown * sizeof(mgc_chunk));
        if (!table) return -1;
        arena->chunks = table;
        size_t words = (size_t)grown * MGC_CHUNK_NODES / 64;
        uint64_t *bits = realloc(arena->free_bits, words * sizeof(uint64_t));
        if (!bits) return -1;
        arena->free_bits = bits;
        uint64_t *summary = realloc(arena->free_summary, words / 64 * sizeof(uint64_t));
        if (!summary) return -1;
        arena->free_summary = summary;
        arena->chunk_capacity = grown;
    }
    char *block = aligned_alloc(64, CHUNK_BYTES);
    if (!block) return -1;
    mgc_chunk chunk = {(double *)block, (double *)block + MGC_CHUNK_NODES,
                       (mgc_node *)(block + 2 * MGC_CHUNK_NODES * sizeof(double)), NULL};
    chunk.int_data = (uint64_t *)(chunk.nodes + MGC_CHUNK_NODES);
    memset(chunk.int_data, 0, MGC_CHUNK_NODES / 8);
    size_t first_word = (size_t)arena->chunk_count * MGC_CHUNK_NODES / 64;
    memset(arena->free_bits + first_word, 0, MGC_CHUNK_NODES / 64 * sizeof(uint64_t));
    memset(arena->free_summary + first_word / 64, 0, MGC_CHUNK_NODES / 64 / 64 * sizeof(uint64_t));
    arena->chunks[arena->chunk_count++] = chunk;
    return 0;
}

/* the lowest free id above `above`, taken out of the free set; 0 if none */
static mgc_id take_free_above(mgc_arena *arena, mgc_id above) {
    uint64_t start = (uint64_t)above + 1;
    if (start >= arena->next_fresh) return 0;
    size_t word = start / 64;
    uint64_t bits = arena->free_bits[word] & (~0ull << (start % 64));
    if (!bits) {
        size_t words = (arena->next_fresh + 63) / 64;
        size_t next = word + 1;
        if (next >= words) return 0;
        size_t group = next / 64;
        uint64_t nonempty = arena->free_summary[group] & (~0ull << (next % 64));
        while (!nonempty) {
            if (++group * 64 >= words) return 0;
            nonempty = arena->free_summary[group];
        }
        word = group * 64 + (size_t)__builtin_ctzll(nonempty);
        bits = arena->free_bits[word];
    }
    uint64_t lowest = bits & -bits;
    arena->free_bits[word] &= ~lowest;
    if (!arena->free_bits[word]) arena->free_summary[word / 64] &= ~(1ull << (word % 64));
    return (mgc_id)(word * 64 + (size_t)__builtin_ctzll(lowest));
}

static void put_free(mgc_arena *arena, mgc_id id) {
    arena->free_bits[id / 64] |= 1ull << (id % 64);
    arena->free_summary[id / 64 / 64] |= 1ull << (id / 64 % 64);
}

/* an id for a new node: the lowest free id above `above`, else a never-used
 * one; 0 when none is left or memory ran out */
static mgc_id fresh_id(mgc_arena *arena, mgc_id above) {
    mgc_id id = take_free_above(arena, above);
    if (id) return id;
    if (arena->next_fresh == 0) arena->next_fresh = 1;  /* id 0 is never a node */
    if (arena->next_fresh >= MGC_MAX_NODES) return 0;
    if ((arena->next_fresh >> MGC_CHUNK_BITS) >= arena->chunk_count && grow_chunks(arena) != 0)
        return 0;
    return (mgc_id)arena->next_fresh++;
}

mgc_id mgc__alloc(uint8_t op, double data, mgc_id above) {
    mgc_arena *arena = &mgc__arena;
    mgc_id id;
    if (op == MGC_LEAF) {
        id = fresh_id(arena, 0);
    } else {
        /* above the cursor; else, wrapping round, above the children; else a new id */
        id = take_free_above(arena, above > arena->cursor ? above : arena->cursor);
        if (id && id < arena->next_fresh - arena->next_fresh / 4) {
            arena->cursor = id;
        } else {
            if (id) put_free(arena, id);
            arena->cursor = 0;
            id = fresh_id(arena, above);
        }
    }
    if (!id) return 0;
    mgc_node *node = mgc__node(id);
    memset(node, 0, sizeof *node);
    *mgc__data(id) = data;
    *mgc__grad(id) = 0.0;
    mgc__set_int_data(id, 0);
    node->stamp = ++arena->stamps;
    node->op = op;
    node->refs = 1;
    arena->live++;
    return id;
}

uint32_t mgc__next_epoch(void) {
    mgc_arena *arena = &mgc__arena;
    if (++arena->epoch == 0) {  /* wrapped: clear every mark so none looks reached */
        for (uint64_t id = 1; id < arena->next_fresh; id++) mgc__node((mgc_id)id)->mark = 0;
        arena->epoch = 1;
        arena->wraps++;
    }
    return arena->epoch;
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
    return which == MGC_TEXT_OP ? &node->in.edges[MGC_EDGE_TEXT] : &node->label;
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

/* drops one reference on id, linking it into *dying when it was the last */
static inline void drop_ref(mgc_id id, mgc_id *dying) {
    mgc_node *node = mgc__node(id);
    if (--node->refs == 0) {
        node->mark = *dying;
        *dying = id;
    }
}

/* drops one hold on list; when the last goes, its ids' references go into *dying */
static void drop_operands(mgc_operands *list, mgc_id *dying) {
    if (--list->refs) return;
    for (uint32_t i = 0; i < list->count; i++) drop_ref(list->ids[i], dying);
    mgc__arena.edge_bytes -= sizeof *list + list->count * sizeof(mgc_id);
    free(list);
}

/* frees the nodes linked from dying, and those they leave without a reference */
static void free_dying(mgc_id dying) {
    mgc_arena *arena = &mgc__arena;
    while (dying) {
        mgc_id current = dying;
        mgc_node *node = mgc__node(current);
        dying = node->mark;
        if (node->flags & MGC_DOT_FLAG) {
            drop_operands(node->in.dot->w, &dying);
            drop_operands(node->in.dot->x, &dying);
            free(node->in.dot);
            arena->edge_bytes -= sizeof(mgc_dot_in);
        } else {
            uint32_t count;
            const mgc_id *children = mgc__children(node, &count);
            for (uint32_t i = 0; i < count; i++) drop_ref(children[i], &dying);
        }
        if (node->label) free_text(node->label);
        if (node->flags & MGC_NARY_FLAG) {
            if (node->op == MGC_OPAQUE && node->in.edges[MGC_EDGE_TEXT])
                free_text(node->in.edges[MGC_EDGE_TEXT]);
            arena->edge_bytes -= mgc__edge_words(node) * sizeof(mgc_id);
            free(node->in.edges);
        }
        node->mark = 0;  /* a stale link could equal a later epoch: a free node is never reached */
        put_free(arena, current);
        arena->live--;
    }
}

void mgc__release(mgc_id id) {
    mgc_node *node = mgc__node(id);
    if (--node->refs) return;
    node->mark = 0;
    free_dying(id);
}

mgc_operands *mgc__operands(const mgc_id *ids, size_t count, mgc_id last) {
    size_t total = count + (last != 0);
    if (total > UINT32_MAX) return NULL;
    mgc_operands *list = malloc(sizeof *list + total * sizeof(mgc_id));
    if (!list) return NULL;
    *list = (mgc_operands){.refs = 1, .count = (uint32_t)total, .leaves_only = 1};
    if (count) memcpy(list->ids, ids, count * sizeof(mgc_id));
    if (last) list->ids[count] = last;
    for (uint32_t i = 0; i < list->count; i++) {
        mgc_node *node = mgc__node(list->ids[i]);
        node->refs++;
        if (list->ids[i] > list->top) list->top = list->ids[i];
        if (mgc__has_children(node)) list->leaves_only = 0;
    }
    mgc__arena.edge_bytes += sizeof *list + total * sizeof(mgc_id);
    return list;
}

void mgc__operands_drop(mgc_operands *list) {
    mgc_id dying = 0;
    drop_operands(list, &dying);
    free_dying(dying);
}

mgc_operands *mgc_operands_new(const mgc_id *ids, size_t count) {
    mgc__lock();
    mgc_operands *list = mgc__operands(ids, count, 0);
    mgc__unlock();
    return list;
}

void mgc_operands_free(mgc_operands *list) {
    if (!list) return;
    mgc__lock();
    mgc__operands_drop(list);
    mgc__unlock();
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
    double data = *mgc__data(id);
    mgc__unlock();
    return data;
}

void mgc_set_data(mgc_id id, double data) {
    mgc__lock();
    *mgc__data(id) = data;
    mgc__set_int_data(id, 0);
    mgc__unlock();
}

void mgc_set_int_data(mgc_id id, double data) {
    mgc__lock();
    *mgc__data(id) = data;
    mgc__set_int_data(id, mgc__node(id)->op == MGC_LEAF);
    mgc__unlock();
}

int mgc_int_data(mgc_id id) {
    mgc__lock();
    int is_int = mgc__is_int_data(id);
    mgc__unlock();
    return is_int;
}

void mgc_refs(const mgc_id *ids, size_t count, uint32_t *out) {
    mgc__lock();
    for (size_t i = 0; i < count; i++) out[i] = mgc__node(ids[i])->refs;
    mgc__unlock();
}

double mgc_grad(mgc_id id) {
    mgc__lock();
    double grad = *mgc__grad(id);
    mgc__unlock();
    return grad;
}

void mgc_set_grad(mgc_id id, double grad) {
    mgc__lock();
    *mgc__grad(id) = grad;
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
    double exponent = node->op == MGC_POW ? *mgc__data(node->in.child[1]) : 0.0;
    *is_int = (node->flags & MGC_INT_EXPONENT) != 0;
    mgc__unlock();
    return exponent;
}

size_t mgc_children(mgc_id id, mgc_id *out, size_t capacity) {
    mgc__lock();
    uint32_t count;
    const mgc_node *node = mgc__node(id);
    if (node->flags & MGC_DOT_FLAG) {  /* weights, inputs, then the bias */
        const mgc_dot_in *dot = node->in.dot;
        count = mgc__child_count(node);
        for (uint32_t i = 0; i < count && i < capacity; i++)
            out[i] = i < dot->n ? mgc__dot_w(dot)[i] : i < 2 * dot->n ? mgc__dot_x(dot)[i - dot->n]
                                                                      : mgc__dot_w(dot)[dot->n];
    } else {
        const mgc_id *children = mgc__children(node, &count);
        if (node->op == MGC_POW) count = 1;  /* the exponent leaf is not a Value's child */
        if (capacity) memcpy(out, children, (count < capacity ? count : capacity) * sizeof(mgc_id));
    }
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
    size_t bytes = (size_t)arena->next_fresh * mgc_node_bytes() +
                   arena->chunk_capacity * sizeof(mgc_chunk) + arena->edge_bytes +
                   (size_t)arena->chunk_capacity * MGC_CHUNK_NODES / 8 * 65 / 64 +
                   (size_t)arena->chunk_count * MGC_CHUNK_NODES / 8 +
                   arena->text_capacity * (sizeof(char *) + sizeof(size_t)) + arena->text_bytes +
                   arena->loss_scratch_capacity * sizeof(double) + mgc__order_bytes() +
                   mgc__facade_bytes();
    mgc__unlock();
    return bytes;
}

size_t mgc_node_bytes(void) { return sizeof(mgc_node) + 2 * sizeof(double); }
