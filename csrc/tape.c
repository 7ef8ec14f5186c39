/*
 * tape.c: a graph frozen into a compact program, replayed forward and
 * backward with new inputs, with no Python per node.
 *
 * Building a tape finds the nodes reachable from its outputs in stamp order
 * (graph.c) and renumbers them into slots, children first, struct of arrays:
 * the order they were made in, which depends on the program alone.
 * The reachable leaves are the tape's inputs, whose values each run supplies,
 * and its live leaves (the parameters, and constants): each run reads their
 * data from the arena and adds their grads back into it, so an optimizer's
 * updates are seen by the next run and grads accumulate as backward() would
 * accumulate them. The tape holds a reference to every live leaf; the
 * interior nodes it was built from may die.
 *
 * It is not a second implementation of the ops: forward and backward are
 * ops.h's rules and losses.c's kernels, applied to slots.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

#define NO_SLOT UINT32_MAX

/* per-slot flags */
#define FROM_LOSS 0x1u           /* the loss reaches the slot: backward applies its rule */
#define DOT_GROUP 0x2u           /* the first of GROUP dots of one length that read no
                                    slot of the group: their sums can run interleaved */
#define ROW_HEAD 0x4u            /* the first dot of a row group (see dense blocks) */
#define ROW_TAIL 0x8u            /* the last dot of a row group */
#define GROUP 4
#define THREAD_GRAIN (4u << 20)  /* multiply-adds a pass; see block_pool */

/* A dense block: one layer (nout neurons of nin weights each, the same weight
 * slots) applied to many rows, each row a run of nout consecutive dot slots
 * reading the same nin input slots: a minibatch, or the positions of a
 * sequence. A row group runs as one kernel: the row's inputs are gathered
 * once, the weights once a run, and the sums go across the neurons, each in
 * its own order (bias, then w0 * x0, w1 * x1, ...), so the bits are the
 * eager graph's. */
typedef struct {
    uint32_t nin, nout;
    uint32_t first, last;        /* head slots of its lowest and highest row groups */
    uint32_t rows;
    int has_bias;
    int lazy;                    /* nothing outside the block reads its weights between
                                    first and last: their grads stay in gw meanwhile */
    int need_gx;                 /* some row's inputs want their grads */
    int shared;                  /* a slot outside the block, or another block, reads one
                                    of its weights or biases */
    uint32_t *w;                 /* nout * nin weight slots, neuron after neuron */
    uint32_t *bias;              /* nout bias slots (has_bias) */
    double *wt;                  /* the weights input-major (nin x nout), read each forward */
    double *wn;                  /* the weights neuron-major (nout x nin); not if direct */
    double *bv;                  /* the biases */
    double *gw;                  /* weight grads, neuron-major, during backward; not if direct */
    const double **wrow;         /* nout: each neuron's nin weights in order: its row of wn,
                                    or (direct) the weights' own values in the arena */
    double **gwrow;              /* nout: where each neuron's weight grads are summed: its row
                                    of gw, or (direct) the weights' own grads in the arena */
    int together;                /* its row groups are side by side (the tape is in level
                                    order), their inputs distinct, every dot reached from
                                    the loss: all rows run as one block */
    double *x, *gx;              /* together: every row's inputs and their grads, row-major */
    int x_in_place;              /* x and gx are the tape's own slots: the rows' inputs are
                                    one run of slots, row after row */
    int direct;                  /* see find_direct: the weights and biases are read and given
                                    their grads in the arena, with no slot between */
    const double **bval;         /* direct and has_bias: each bias's value in the arena */
    double **bgrad;              /* the same: each bias's grad */
    uint32_t *picked;            /* direct: for each neuron, room for the rows whose grads it
                                    sums (weight_grads_from_zero) */
    double *picked_g;            /* and their grads */
    mgc_id *split_first;         /* direct: NULL, or for each neuron whose weights' ids cross
                                    into a second chunk, the first of them (else 0): its
                                    rows of wn and gw stand in for the arena's (split_rows) */
    uint32_t *picked_count;      /* and how many each neuron has */
} mgc_dense;

struct mgc_tape {
    uint32_t slots;              /* nodes, children before parents */
    uint8_t *op;                 /* enum mgc_op of each slot; leaves are MGC_LEAF */
    uint32_t *a, *b;             /* unary/binary: child slots (b = NO_SLOT for unary);
                                    dot: a = where its weights, then its bias, are in
                                    edges, b = its children (2n, + 1 with a bias);
                                    losses: a = first entry in edges, b = index in losses */
    uint32_t *xa;                /* dot: where its n inputs are in edges */
    uint8_t *flags;              /* FROM_LOSS | DOT_GROUP */
    double *value, *grad;        /* per slot, rewritten by every run */
    uint32_t *edges;             /* n-ary children as slots, node after node; a run of
                                    an operand list once for all the dots reading it */
    size_t edge_count;           /* entries in edges */
    mgc_loss *losses;            /* loss nodes' shapes; targets point into edges */
    uint32_t loss_count;
    uint32_t leaf_count;         /* live leaves, held by the tape */
    uint32_t loop_leaves;        /* the first ones, whose data each run copies into their
                                    slots and whose slots' grads it adds back; the others
                                    are the direct blocks' weights */
    uint32_t *leaf_slot;
    mgc_id *leaf_id;             /* held by the tape */
    uint32_t input_count;
    uint32_t *input_slot;        /* NO_SLOT for an input the outputs do not reach */
    uint32_t inputs_at;          /* the first input's slot when the inputs' slots are one run,
                                    in order; else NO_SLOT */
    uint32_t output_count;
    uint32_t *output_slot;
    size_t python_ops;           /* nodes whose forward or rule is in Python */
    uint32_t dense_count;
    mgc_dense *dense;            /* the dense blocks */
    uint32_t *member;            /* per slot: 1 + the index of the block whose row group
                                    the slot's dot is in, else 0 */
    double *row_scratch;         /* a row's inputs, sums, input grads, output grads */
    uint32_t step_count;
    uint32_t *steps;             /* what a run does, in order (list_steps) */
    uint32_t zero_count;
    uint32_t *zero;              /* [from, to) slot ranges whose grads backward starts at 0:
                                    all but the direct blocks' parameters and the inputs
                                    no rule gives a grad (list_zero_ranges) */
    double *scratch;             /* a loss's gathered values and grads */
    mgc_pool *pool;              /* threads for the dense blocks' kernels; NULL: none */
    uint64_t grain;              /* a block whose pass is fewer multiply-adds than this runs
                                    on the calling thread alone (block_pool) */
};

static double *tape_slot(void *tape, uint32_t slot, int grad) {
    mgc_tape *t = tape;
    return grad ? &t->grad[slot] : &t->value[slot];
}

void mgc_tape_free(mgc_tape *tape) {
    if (!tape) return;
    if (tape->leaf_id) {
        mgc__lock();
        for (uint32_t i = 0; i < tape->leaf_count; i++) mgc__release(tape->leaf_id[i]);
        mgc__unlock();
    }
    free(tape->op);
    free(tape->a);
    free(tape->b);
    free(tape->xa);
    free(tape->flags);
    free(tape->value);
    free(tape->grad);
    free(tape->edges);
    free(tape->losses);
    free(tape->leaf_slot);
    free(tape->leaf_id);
    free(tape->input_slot);
    free(tape->output_slot);
    free(tape->scratch);
    for (uint32_t i = 0; i < tape->dense_count; i++) {
        mgc_dense *d = &tape->dense[i];
        free(d->w);
        free(d->bias);
        free(d->wt);
        free(d->wn);
        free(d->bv);
        free(d->gw);
        if (!d->x_in_place) {
            free(d->x);
            free(d->gx);
        }
        free(d->wrow);
        free(d->gwrow);
        free(d->bval);
        free(d->bgrad);
        free(d->picked);
        free(d->picked_g);
        free(d->picked_count);
        free(d->split_first);
    }
    free(tape->dense);
    free(tape->member);
    free(tape->row_scratch);
    free(tape->steps);
    free(tape->zero);
    mgc__pool_free(tape->pool);
    free(tape);
}

/* ----------------------------------------------------------------------------
 * building */

/* a dot slot's n weights, then its bias, and its n inputs, as slots */
static inline const uint32_t *dot_w(const mgc_tape *t, uint32_t s) { return t->edges + t->a[s]; }
static inline const uint32_t *dot_x(const mgc_tape *t, uint32_t s) { return t->edges + t->xa[s]; }

/* The passes of a build over operand lists (internal.h), each a number no other
 * pass has had: a list the walk reached in one run (no gaps) has that run looked
 * at once a pass, for all the dots reading it. */
static uint64_t passes;

/* where run ids[from ..+ len) of list (which the walk reached) is in edges, writing
 * its slots at *edge unless this pass has: the list's whole reached run, once */
static uint32_t run_in_edges(mgc_tape *t, mgc_operands *list, uint32_t from, uint32_t len,
                             uint64_t pass, size_t *edge) {
    uint32_t lo = from, hi = from + len;
    if (!list->gaps) {
        if (list->pass == pass) return list->at + (from - list->lo);
        lo = list->lo;
        hi = list->hi;
        list->pass = pass;
        list->at = (uint32_t)*edge;
    }
    uint32_t at = (uint32_t)*edge;
    for (uint32_t k = lo; k < hi; k++) t->edges[(*edge)++] = mgc__node(list->ids[k])->mark;
    return at + (from - lo);
}

/* how many entries run_in_edges adds for the run */
static size_t run_words(mgc_operands *list, uint32_t len, uint64_t pass) {
    if (list->gaps) return len;
    if (list->pass == pass) return 0;
    list->pass = pass;
    return list->hi - list->lo;
}

/* fills the tape's slots from nodes[] (slot after slot), whose marks hold
 * their slots; the inputs' ids are in is_input's set. 0 or -1 */
static int fill(mgc_tape *t, const mgc_id *nodes, const uint8_t *is_input) {
    size_t edge_count = 0, loss_count = 0, leaf_count = 0, scratch = 0;
    uint64_t counting = ++passes, filling = ++passes;
    for (uint32_t s = 0; s < t->slots; s++) {
        const mgc_node *node = mgc__node(nodes[s]);
        uint32_t children = mgc__child_count(node);
        if (node->flags & MGC_DOT_FLAG) {
            const mgc_dot_in *dot = node->in.dot;
            edge_count += run_words(dot->w, dot->n + dot->has_bias, counting) +
                          run_words(dot->x, dot->n, counting);
        } else if (node->flags & MGC_NARY_FLAG && node->op != MGC_OPAQUE) {
            edge_count += children + (node->op == MGC_SOFTMAX_CE ? children / node->in.edges[MGC_EDGE_TEXT] : 0);
            loss_count++;
            if (2 * (size_t)children > scratch) scratch = 2 * (size_t)children;
        }
        if ((node->op == MGC_LEAF && !is_input[s]) || node->op == MGC_OPAQUE) leaf_count++;
        if ((node->op == MGC_OPAQUE && children) || node->flags & MGC_PY_RULE) t->python_ops++;
    }
    if (edge_count > UINT32_MAX) return -1;
    t->edge_count = edge_count;
    t->edges = malloc((edge_count ? edge_count : 1) * sizeof(uint32_t));
    t->losses = malloc((loss_count ? loss_count : 1) * sizeof(mgc_loss));
    t->leaf_slot = malloc((leaf_count ? leaf_count : 1) * sizeof(uint32_t));
    t->leaf_id = calloc(leaf_count ? leaf_count : 1, sizeof(mgc_id));
    t->scratch = malloc((scratch ? scratch : 1) * sizeof(double));
    if (!t->edges || !t->losses || !t->leaf_slot || !t->leaf_id || !t->scratch) return -1;

    size_t edge = 0;
    for (uint32_t s = 0; s < t->slots; s++) {
        const mgc_node *node = mgc__node(nodes[s]);
        t->op[s] = node->op;
        t->a[s] = t->b[s] = t->xa[s] = NO_SLOT;
        if ((node->op == MGC_LEAF && !is_input[s]) || node->op == MGC_OPAQUE) {
            t->op[s] = MGC_LEAF;  /* an opaque node replays as the number it holds */
            t->leaf_slot[t->leaf_count] = s;
            t->leaf_id[t->leaf_count++] = nodes[s];
        } else if (node->flags & MGC_DOT_FLAG) {
            const mgc_dot_in *dot = node->in.dot;
            t->a[s] = run_in_edges(t, dot->w, dot->w_at, dot->n + dot->has_bias, filling, &edge);
            t->xa[s] = run_in_edges(t, dot->x, dot->x_at, dot->n, filling, &edge);
            t->b[s] = 2 * dot->n + dot->has_bias;
        } else if (node->flags & MGC_NARY_FLAG) {
            uint32_t children;
            const mgc_id *child = mgc__children(node, &children);
            t->a[s] = (uint32_t)edge;
            for (uint32_t i = 0; i < children; i++) t->edges[edge++] = mgc__node(child[i])->mark;
            mgc_loss loss = mgc__node_loss(node);
            if (node->op == MGC_SELECT) loss.targets = NULL;  /* each run reads its row */
            if (loss.targets) {  /* the class indices follow the children */
                size_t rows = loss.count / loss.classes;
                memcpy(t->edges + edge, loss.targets, rows * sizeof(uint32_t));
                loss.targets = t->edges + edge;
                edge += rows;
            }
            t->b[s] = t->loss_count;
            t->losses[t->loss_count++] = loss;
        } else if (node->in.child[0]) {
            t->a[s] = mgc__node(node->in.child[0])->mark;
            if (node->in.child[1]) t->b[s] = mgc__node(node->in.child[1])->mark;
        }
    }
    return 0;
}

/* DOT_GROUP: runs of GROUP independent dots of one length, as a layer's neurons are */
static void mark_dot_groups(mgc_tape *t) {
    for (uint32_t s = 0; s + GROUP <= t->slots; s++) {
        int grouped = 1;
        for (uint32_t k = 0; k < GROUP && grouped; k++) {
            uint32_t slot = s + k;
            grouped = t->op[slot] == MGC_DOT && t->b[slot] == t->b[s] && !t->member[slot];
            uint32_t n = t->b[s] / 2, weights = t->b[s] - n;  /* and its bias */
            for (uint32_t i = 0; i < weights && grouped; i++) grouped = dot_w(t, slot)[i] < s;
            for (uint32_t i = 0; i < n && grouped; i++) grouped = dot_x(t, slot)[i] < s;
        }
        if (grouped) {
            t->flags[s] |= DOT_GROUP;
            s += GROUP - 1;
        }
    }
}

/* ----------------------------------------------------------------------------
 * finding dense blocks */

/* the children slots of slot s, as fill laid them out, in up to two runs: run[0]
 * of count[0] slots and run[1] of count[1] (a dot's weights then bias, and its
 * inputs); pair: room for a unary or binary slot's */
static void slot_children(const mgc_tape *t, uint32_t s, const uint32_t *run[2], uint32_t count[2],
                          uint32_t pair[2]) {
    int op = t->op[s];
    run[0] = run[1] = pair;
    count[0] = count[1] = 0;
    if (op == MGC_DOT) {
        count[1] = t->b[s] / 2;
        count[0] = t->b[s] - count[1];
        run[0] = dot_w(t, s);
        run[1] = dot_x(t, s);
    } else if (mgc__is_kernel(op)) {
        count[0] = t->losses[t->b[s]].count;
        run[0] = t->edges + t->a[s];
    } else if (op != MGC_LEAF) {
        pair[0] = t->a[s];
        pair[1] = t->b[s];
        count[0] = t->b[s] == NO_SLOT ? 1 : 2;
    }
}

/* FROM_LOSS: the slots the loss reaches, parents before children. A layer's dots
 * read the same runs of edges over and over (a neuron's weights once a row, a row's
 * inputs once a neuron), so a run is marked once: done[at] is the longest run from
 * at marked so far. 0 or -1 */
static int mark_from_loss(mgc_tape *t) {
    uint32_t *done = calloc(t->edge_count ? t->edge_count : 1, sizeof(uint32_t));
    if (!done) return -1;
    t->flags[t->output_slot[0]] |= FROM_LOSS;
    for (uint32_t s = t->slots; s-- > 0;) {
        if (!(t->flags[s] & FROM_LOSS)) continue;
        uint32_t count[2], pair[2];
        const uint32_t *run[2];
        slot_children(t, s, run, count, pair);
        for (int r = 0; r < 2; r++) {
            if (count[r] == 0) continue;
            if (t->op[s] == MGC_DOT) {
                uint32_t *longest = &done[run[r] - t->edges];
                if (*longest >= count[r]) continue;
                *longest = count[r];
            }
            for (uint32_t i = 0; i < count[r]; i++) t->flags[run[r][i]] |= FROM_LOSS;
        }
    }
    free(done);
    return 0;
}

/* whether dots s and r read the same n inputs: the same run of edges, as a
 * layer's neurons do, or runs holding the same slots */
static inline int same_inputs(const mgc_tape *t, uint32_t s, uint32_t r, uint32_t n) {
    return t->xa[s] == t->xa[r] || memcmp(dot_x(t, s), dot_x(t, r), n * sizeof(uint32_t)) == 0;
}

/* how many dots from s on read the same inputs as s (a row group) */
static uint32_t row_group_length(const mgc_tape *t, uint32_t s) {
    uint32_t count = t->b[s], n = count / 2, k = 1;
    while (s + k < t->slots && t->op[s + k] == MGC_DOT && t->b[s + k] == count &&
           same_inputs(t, s, s + k, n))
        k++;
    return k;
}

/* whether a row group's weights and biases are all distinct, and its inputs too,
 * none of them a weight or bias of the group (then each gets one contribution from
 * each dot, as the kernels assume); weights: check those as well, else they are a
 * block's that were checked. param: 1 for the weights and biases of every block */
static int distinct(const mgc_tape *t, uint32_t s, uint32_t nout, int weights, uint32_t *seen,
                    uint32_t stamp, const uint8_t *param) {
    uint32_t count = t->b[s], n = count / 2;
    for (uint32_t j = 0; j < nout && weights; j++) {
        const uint32_t *w = dot_w(t, s + j);
        for (uint32_t i = 0; i < count - n; i++) {
            if (seen[w[i]] == stamp) return 0;
            seen[w[i]] = stamp;
        }
    }
    const uint32_t *x = dot_x(t, s);  /* the same for every dot */
    for (uint32_t i = 0; i < n; i++) {
        if (seen[x[i]] == stamp || param[x[i]]) return 0;
        seen[x[i]] = stamp;
    }
    return 1;
}

/* FNV-1a over the slots of a run */
static uint64_t run_hash(const uint32_t *run, uint32_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < n; i++) h = (h ^ run[i]) * 1099511628211ull;
    return h;
}

/* a row group's weights and biases, hashed: each neuron's run once a tape (hashes[at],
 * for the n + 1 entries from at, cached with known[at] = n + 1) */
static uint64_t group_hash(const mgc_tape *t, uint32_t s, uint32_t nout, uint64_t *hashes,
                           uint32_t *known) {
    uint32_t count = t->b[s], run = count - count / 2;
    uint64_t h = 1469598103934665603ull ^ nout ^ ((uint64_t)count << 32);
    for (uint32_t j = 0; j < nout && run; j++) {
        uint32_t at = t->a[s + j];
        if (known[at] != run + 1) {
            hashes[at] = run_hash(dot_w(t, s + j), run);
            known[at] = run + 1;
        }
        h = (h ^ hashes[at]) * 1099511628211ull;
    }
    return h;
}

/* whether the row group at s has block d's weights and biases */
static int same_weights(const mgc_tape *t, uint32_t s, const mgc_dense *d) {
    uint32_t count = t->b[s], n = count / 2;
    if (n != d->nin || (int)(count % 2) != d->has_bias) return 0;
    for (uint32_t j = 0; j < d->nout; j++) {
        const uint32_t *w = dot_w(t, s + j);
        if (t->a[s + j] != t->a[d->first + j] &&
            memcmp(w, d->w + (size_t)j * n, n * sizeof(uint32_t)) != 0)
            return 0;
        if (d->has_bias && w[n] != d->bias[j]) return 0;
    }
    return 1;
}

static int new_block(mgc_tape *t, uint32_t s, uint32_t nout, uint32_t *capacity) {
    if (t->dense_count == *capacity) {
        uint32_t grown = *capacity ? 2 * *capacity : 8;
        mgc_dense *bigger = realloc(t->dense, grown * sizeof(mgc_dense));
        if (!bigger) return -1;
        t->dense = bigger;
        *capacity = grown;
    }
    uint32_t count = t->b[s], n = count / 2;
    mgc_dense *d = &t->dense[t->dense_count];
    *d = (mgc_dense){.nin = n, .nout = nout, .first = s, .last = s, .has_bias = (int)(count % 2),
                     .lazy = 1};
    size_t weights = (size_t)nout * n;
    d->w = malloc(weights * sizeof(uint32_t));
    d->bias = malloc(nout * sizeof(uint32_t));
    d->wt = calloc(weights + 8, sizeof(double));  /* padded for block_forward's last loads */
    d->wn = malloc(weights * sizeof(double));
    d->bv = calloc(nout + 8, sizeof(double));
    d->gw = malloc(weights * sizeof(double));
    d->wrow = malloc(nout * sizeof(double *));
    d->gwrow = malloc(nout * sizeof(double *));
    t->dense_count++;  /* counted now, so that mgc_tape_free frees what was made */
    if (!d->w || !d->bias || !d->wt || !d->wn || !d->bv || !d->gw || !d->wrow || !d->gwrow)
        return -1;
    for (uint32_t j = 0; j < nout; j++) {
        d->wrow[j] = d->wn + (size_t)j * n;
        d->gwrow[j] = d->gw + (size_t)j * n;
        const uint32_t *w = dot_w(t, s + j);
        memcpy(d->w + (size_t)j * n, w, n * sizeof(uint32_t));
        d->bias[j] = d->has_bias ? w[n] : NO_SLOT;
    }
    return 0;
}

/* a block's weights then biases: its k-th parameter slot, of block_params(d) */
static inline size_t block_params(const mgc_dense *d) {
    return (size_t)d->nout * d->nin + (d->has_bias ? d->nout : 0);
}

static inline uint32_t param_slot(const mgc_dense *d, size_t k) {
    size_t weights = (size_t)d->nout * d->nin;
    return k < weights ? d->w[k] : d->bias[k - weights];
}

/* the input slots of row r of block d (those of its first dot) */
static inline const uint32_t *row_inputs(const mgc_tape *t, const mgc_dense *d, uint32_t r) {
    return dot_x(t, d->first + r * d->nout);
}

/* the dense blocks of the tape: row groups of at least two dots of at least two
 * weights, grouped by their weights. 0 or -1 */
static int find_dense(mgc_tape *t) {
    uint32_t slots = t->slots, capacity = 0, table_size = 64;
    t->member = calloc(slots ? slots : 1, sizeof(uint32_t));
    uint32_t *seen = calloc(slots ? slots : 1, sizeof(uint32_t));
    uint32_t *table = NULL;  /* open addressing: 1 + block index, by weight hash */
    uint64_t *hashes = NULL;
    size_t edges = t->edge_count ? t->edge_count : 1;
    uint64_t *run_hashes = malloc(edges * sizeof(uint64_t));  /* see group_hash */
    uint32_t *run_known = calloc(edges, sizeof(uint32_t));
    uint8_t *param = calloc(slots ? slots : 1, 1);  /* see distinct */
    int status = t->member && seen && run_hashes && run_known && param ? 0 : -1;
    size_t widest_in = 0, widest_out = 0;
    for (uint32_t s = 0; s < slots && status == 0; s++) {
        if (t->op[s] != MGC_DOT || t->b[s] < 4 || t->member[s]) continue;
        uint32_t nout = row_group_length(t, s);
        if (nout < 2) continue;
        uint64_t h = group_hash(t, s, nout, run_hashes, run_known);
        if (2 * (t->dense_count + 1) > table_size || !table) {  /* grow and rehash */
            while (2 * (t->dense_count + 1) > table_size) table_size *= 2;
            uint32_t *bigger = calloc(table_size, sizeof(uint32_t));
            uint64_t *more = realloc(hashes, (table_size / 2 + 1) * sizeof(uint64_t));
            if (!bigger || !more) {
                free(bigger);
                if (more) hashes = more;
                status = -1;
                break;
            }
            hashes = more;
            free(table);
            table = bigger;
            for (uint32_t b = 0; b < t->dense_count; b++) {
                uint32_t at = (uint32_t)hashes[b] & (table_size - 1);
                while (table[at]) at = (at + 1) & (table_size - 1);
                table[at] = b + 1;
            }
        }
        uint32_t at = (uint32_t)h & (table_size - 1), block = 0;
        while (table[at]) {
            uint32_t b = table[at] - 1;
            if (hashes[b] == h && t->dense[b].nout == nout && same_weights(t, s, &t->dense[b])) {
                block = table[at];
                break;
            }
            at = (at + 1) & (table_size - 1);
        }
        if (!distinct(t, s, nout, !block, seen, s + 1, param)) continue;
        if (!block) {
            if (new_block(t, s, nout, &capacity)) {
                status = -1;
                break;
            }
            hashes[t->dense_count - 1] = h;
            table[at] = block = t->dense_count;
            for (size_t k = 0; k < block_params(&t->dense[block - 1]); k++)
                param[param_slot(&t->dense[block - 1], k)] = 1;
        }
        mgc_dense *d = &t->dense[block - 1];
        d->rows++;
        d->last = s;
        for (uint32_t j = 0; j < nout; j++) t->member[s + j] = block;
        t->flags[s] |= ROW_HEAD;
        t->flags[s + nout - 1] |= ROW_TAIL;
        if (d->nin > widest_in) widest_in = d->nin;
        if (nout > widest_out) widest_out = nout;
    }
    free(table);
    free(hashes);
    free(run_hashes);
    free(run_known);
    free(param);
    if (status == 0 && t->dense_count) {
        /* a row's input wants its grad unless it is an input of the tape */
        memset(seen, 0, slots * sizeof(uint32_t));
        for (uint32_t i = 0; i < t->input_count; i++)
            if (t->input_slot[i] != NO_SLOT) seen[t->input_slot[i]] = 1;
        for (uint32_t s = 0; s < slots; s++) {
            if (!(t->flags[s] & ROW_HEAD)) continue;
            mgc_dense *d = &t->dense[t->member[s] - 1];
            const uint32_t *x = dot_x(t, s);
            for (uint32_t i = 0; i < d->nin && !d->need_gx; i++) d->need_gx = !seen[x[i]];
        }
        /* lazy unless a slot outside the block reads one of its weights between its
         * first and last row groups; owner: 1 + the block a weight slot belongs to */
        uint32_t *owner = seen;
        memset(owner, 0, slots * sizeof(uint32_t));
        for (uint32_t b = 0; b < t->dense_count; b++) {
            mgc_dense *d = &t->dense[b];
            for (size_t k = 0; k < block_params(d); k++) {
                uint32_t slot = param_slot(d, k);
                if (owner[slot] && owner[slot] != b + 1) {  /* shared by two blocks */
                    t->dense[owner[slot] - 1].lazy = 0;
                    d->lazy = 0;
                    t->dense[owner[slot] - 1].shared = d->shared = 1;
                }
                owner[slot] = b + 1;
            }
        }
        for (uint32_t s = 0; s < slots; s++) {
            uint32_t count[2], pair[2];
            const uint32_t *run[2];
            slot_children(t, s, run, count, pair);
            if (t->member[s]) {  /* its weights are its block's; its inputs its row head's */
                count[0] = 0;
                if (!(t->flags[s] & ROW_HEAD)) count[1] = 0;
            }
            for (int r = 0; r < 2; r++)
                for (uint32_t i = 0; i < count[r]; i++) {
                    uint32_t b = run[r][i] == NO_SLOT ? 0 : owner[run[r][i]];
                    if (!b || t->member[s] == b) continue;
                    mgc_dense *d = &t->dense[b - 1];
                    d->shared = 1;
                    if (s > d->first && s < d->last + d->nout) d->lazy = 0;
                }
        }
        /* together: rows side by side, no input slot in two rows, all reached */
        memset(seen, 0, slots * sizeof(uint32_t));
        for (uint32_t b = 0; b < t->dense_count && status == 0; b++) {
            mgc_dense *d = &t->dense[b];
            uint32_t end = d->first + d->rows * d->nout;
            d->together = d->last == d->first + (d->rows - 1) * d->nout;
            for (uint32_t s = d->first; s < end && d->together; s++)
                d->together = (t->flags[s] & FROM_LOSS) && t->member[s] == b + 1;
            for (uint32_t r = 0; r < d->rows && d->together; r++) {
                const uint32_t *x = row_inputs(t, d, r);
                for (uint32_t i = 0; i < d->nin && d->together; i++) {
                    d->together = seen[x[i]] != b + 1;
                    seen[x[i]] = b + 1;
                }
            }
            uint32_t x0 = d->together ? row_inputs(t, d, 0)[0] : 0;
            d->x_in_place = d->together && x0 <= slots - (size_t)d->rows * d->nin;
            for (uint32_t r = 0; r < d->rows && d->x_in_place; r++) {
                const uint32_t *x = row_inputs(t, d, r);
                for (uint32_t i = 0; i < d->nin && d->x_in_place; i++)
                    d->x_in_place = x[i] == x0 + r * d->nin + i;
            }
            if (d->x_in_place) {
                d->x = t->value + x0;
                d->gx = d->need_gx ? t->grad + x0 : NULL;
            } else if (d->together) {
                d->x = malloc((size_t)d->rows * d->nin * sizeof(double));
                d->gx = d->need_gx ? malloc((size_t)d->rows * d->nin * sizeof(double)) : NULL;
                if (!d->x || (d->need_gx && !d->gx)) status = -1;
            }
        }
        t->row_scratch = malloc((2 * widest_in + 2 * widest_out) * sizeof(double));
        if (!t->row_scratch && status == 0) status = -1;
    }
    free(seen);
    return status;
}

/* whether ids first ... first + n - 1 lie in two chunks */
static inline int crosses_chunks(mgc_id first, uint32_t n) {
    return (first & (MGC_CHUNK_NODES - 1)) + (uint64_t)n > MGC_CHUNK_NODES;
}

/* neurons [from, to) of a direct block whose weights cross into a second chunk: their
 * values (grad = 0) or grads (grad = 1) copied from the arena into their rows of wn
 * or gw (back = 0), or from those rows back to the arena (back = 1); lock held */
static void split_rows(mgc_dense *d, uint32_t from, uint32_t to, int grad, int back) {
    for (uint32_t j = from; j < to && d->split_first; j++) {
        mgc_id first = d->split_first[j];
        if (!first) continue;
        uint32_t cut = MGC_CHUNK_NODES - (first & (MGC_CHUNK_NODES - 1)), nin = d->nin;
        double *row = (grad ? d->gw : d->wn) + (size_t)j * nin;
        double *head = grad ? mgc__grad(first) : mgc__data(first);
        double *tail = grad ? mgc__grad(first + cut) : mgc__data(first + cut);
        if (back) {
            memcpy(head, row, cut * sizeof(double));
            memcpy(tail, row + cut, (nin - cut) * sizeof(double));
        } else {
            memcpy(row, head, cut * sizeof(double));
            memcpy(row + cut, tail, (nin - cut) * sizeof(double));
        }
    }
}

/* whether the ids of each neuron's weights run consecutively, as a Neuron's made
 * in a row do: then a row of the arena's values is the neuron's weights in order
 * (or two rows, where the ids cross from one chunk into the next) */
static int weights_in_rows(const mgc_tape *t, const mgc_dense *d, const uint32_t *leaf_of) {
    for (uint32_t j = 0; j < d->nout; j++) {
        const uint32_t *w = d->w + (size_t)j * d->nin;
        mgc_id first = t->leaf_id[leaf_of[w[0]] - 1];
        if ((uint64_t)first + d->nin > MGC_MAX_NODES) return 0;
        for (uint32_t i = 1; i < d->nin; i++)
            if (t->leaf_id[leaf_of[w[i]] - 1] != first + i) return 0;
    }
    return 1;
}

/* direct: a block whose rows run together and whose weights and biases are live
 * leaves that no other slot reads (not shared) and no output is, each neuron's
 * weights a run of consecutive ids. A run then reads them in the arena and adds
 * their grads straight to it: for a wide layer most of the tape's leaves, spared
 * two passes through the slots and copies. Their leaves move to the end of the
 * leaf list, past t->loop_leaves. 0 or -1 */
static int find_direct(mgc_tape *t) {
    uint32_t slots = t->slots;
    t->loop_leaves = t->leaf_count;
    if (!t->dense_count) return 0;
    uint32_t *owner = calloc(slots, sizeof(uint32_t));    /* 1 + the block of a weight */
    uint32_t *leaf_of = calloc(slots, sizeof(uint32_t));  /* 1 + the leaf of a slot */
    uint8_t *blocked = calloc(t->dense_count, 1);         /* 1: the block is not direct */
    int status = owner && leaf_of && blocked ? 0 : -1;
    for (uint32_t i = 0; i < t->leaf_count && status == 0; i++) leaf_of[t->leaf_slot[i]] = i + 1;
    for (uint32_t b = 0; b < t->dense_count && status == 0; b++) {
        mgc_dense *d = &t->dense[b];
        blocked[b] |= !d->together || d->shared;
        for (size_t k = 0; k < block_params(d); k++) {
            uint32_t slot = param_slot(d, k);
            if (!leaf_of[slot]) blocked[b] = 1;
            owner[slot] = b + 1;
        }
        blocked[b] |= !blocked[b] && !weights_in_rows(t, d, leaf_of);
    }
    for (uint32_t i = 0; i < t->output_count && status == 0; i++)
        if (owner[t->output_slot[i]]) blocked[owner[t->output_slot[i]] - 1] = 1;
    /* the direct blocks' rows in the arena, and their leaves marked (leaf_of = 0) */
    mgc__lock();  /* the chunk table may grow under another thread's allocation */
    for (uint32_t b = 0; b < t->dense_count && status == 0; b++) {
        mgc_dense *d = &t->dense[b];
        if (blocked[b]) continue;
        d->bval = d->has_bias ? malloc(d->nout * sizeof(double *)) : NULL;
        d->bgrad = d->has_bias ? malloc(d->nout * sizeof(double *)) : NULL;
        d->picked = malloc((size_t)d->rows * d->nout * sizeof(uint32_t));
        d->picked_g = malloc((size_t)d->rows * d->nout * sizeof(double));
        d->picked_count = malloc(d->nout * sizeof(uint32_t));
        if ((d->has_bias && (!d->bval || !d->bgrad)) || !d->picked || !d->picked_g ||
            !d->picked_count) {
            status = -1;
            break;
        }
        int split = 0;
        for (uint32_t j = 0; j < d->nout; j++) {
            mgc_id first = t->leaf_id[leaf_of[d->w[(size_t)j * d->nin]] - 1];
            if (crosses_chunks(first, d->nin)) {  /* its rows of wn and gw stand in */
                if (!d->split_first && !(d->split_first = calloc(d->nout, sizeof(mgc_id)))) {
                    status = -1;
                    break;
                }
                d->split_first[j] = first;
                split = 1;
            } else {
                d->wrow[j] = mgc__data(first);
                d->gwrow[j] = mgc__grad(first);
            }
            if (d->has_bias) {
                mgc_id bias = t->leaf_id[leaf_of[d->bias[j]] - 1];
                d->bval[j] = mgc__data(bias);
                d->bgrad[j] = mgc__grad(bias);
            }
        }
        if (status) break;
        for (size_t k = 0; k < block_params(d); k++) leaf_of[param_slot(d, k)] = 0;
        d->direct = 1;
        if (!split) {  /* its rows are the arena's */
            free(d->wn);
            free(d->gw);
            d->wn = d->gw = NULL;
        }
    }
    mgc__unlock();
    if (status == 0) {  /* the looped leaves first (their order kept), then the direct ones */
        uint32_t front = 0;
        for (uint32_t i = 0; i < t->leaf_count; i++) {
            if (!leaf_of[t->leaf_slot[i]]) continue;
            uint32_t slot = t->leaf_slot[i];
            mgc_id id = t->leaf_id[i];
            t->leaf_slot[i] = t->leaf_slot[front];
            t->leaf_id[i] = t->leaf_id[front];
            t->leaf_slot[front] = slot;
            t->leaf_id[front++] = id;
        }
        t->loop_leaves = front;
    }
    free(owner);
    free(leaf_of);
    free(blocked);
    return status;
}

/* one more than the highest level among run ids[from ..+ len) of list (which the
 * walk reached), 0 for none: for a list reached in one run, that of the whole run,
 * looked at once a pass. Higher than the run's own can be, which keeps each dot
 * above its children all the same */
static uint32_t run_level(const uint32_t *level, mgc_operands *list, uint32_t from, uint32_t len,
                          uint64_t pass) {
    uint32_t lo = from, hi = from + len, top = 0;
    if (!list->gaps) {
        if (list->pass == pass) return list->at;
        lo = list->lo;
        hi = list->hi;
    }
    for (uint32_t k = lo; k < hi; k++) {
        uint32_t below = level[mgc__node(list->ids[k])->mark] + 1;
        if (below > top) top = below;
    }
    if (!list->gaps) {
        list->pass = pass;
        list->at = top;
    }
    return top;
}

/* the nodes (children first, each node's mark its place) put in order of level: a
 * leaf's is 0, any other node's one more than its highest child's; creation order
 * within a level. Still children first, and a layer's rows end up side by side
 * (each row's dots are one level), which lets a dense block run them together. 0 or -1 */
static int by_level(mgc_id *ids, uint32_t count) {
    uint32_t *level = malloc((count ? count : 1) * sizeof(uint32_t)), top = 0;
    uint64_t pass = ++passes;
    mgc_id *sorted = malloc((count ? count : 1) * sizeof(mgc_id));
    uint32_t *starts = NULL;
    int status = -1;
    if (level && sorted) {
        for (uint32_t k = 0; k < count; k++) {
            const mgc_node *node = mgc__node(ids[k]);
            uint32_t lv = 0;
            if (node->flags & MGC_DOT_FLAG) {
                const mgc_dot_in *dot = node->in.dot;
                lv = run_level(level, dot->w, dot->w_at, dot->n + dot->has_bias, pass);
                uint32_t below = run_level(level, dot->x, dot->x_at, dot->n, pass);
                if (below > lv) lv = below;
            } else {
                uint32_t children;
                const mgc_id *child = mgc__children(node, &children);
                for (uint32_t i = 0; i < children; i++) {
                    uint32_t below = level[mgc__node(child[i])->mark] + 1;
                    if (below > lv) lv = below;
                }
            }
            level[k] = lv;
            if (lv > top) top = lv;
        }
        starts = calloc((size_t)top + 2, sizeof(uint32_t));
    }
    if (starts) {
        for (uint32_t k = 0; k < count; k++) starts[level[k] + 1]++;
        for (uint32_t lv = 0; lv <= top; lv++) starts[lv + 1] += starts[lv];
        for (uint32_t k = 0; k < count; k++) sorted[starts[level[k]]++] = ids[k];
        memcpy(ids, sorted, count * sizeof(mgc_id));
        status = 0;
    }
    free(level);
    free(sorted);
    free(starts);
    return status;
}

static int list_steps(mgc_tape *t);
static int list_zero_ranges(mgc_tape *t);

mgc_tape *mgc_tape_build(const mgc_id *outputs, size_t output_count, const mgc_id *inputs,
                         size_t input_count) {
    if (output_count == 0 || output_count > UINT32_MAX || input_count > UINT32_MAX) return NULL;
    mgc_tape *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    mgc__lock();
    uint32_t epoch, count = 0;
    mgc_order order = mgc__order_borrow();
    int status = mgc__order(outputs, output_count, 1, &order, &epoch);
    if (status == 0 && order.count > UINT32_MAX) status = -1;
    uint8_t *is_input = NULL;
    t->input_count = (uint32_t)input_count;
    t->output_count = (uint32_t)output_count;
    t->input_slot = malloc((input_count ? input_count : 1) * sizeof(uint32_t));
    t->output_slot = malloc(output_count * sizeof(uint32_t));
    if (status == 0) {
        count = (uint32_t)order.count;
        t->slots = count;
        t->op = malloc(count);
        t->a = malloc(count * sizeof(uint32_t));
        t->b = malloc(count * sizeof(uint32_t));
        t->xa = malloc(count * sizeof(uint32_t));
        t->flags = calloc(count ? count : 1, 1);
        /* zeroed: a direct block's weight slots are never written, nor read */
        t->value = calloc(count ? count : 1, sizeof(double));
        t->grad = malloc(count * sizeof(double));
        is_input = calloc(count, 1);
        if (!t->op || !t->a || !t->b || !t->xa || !t->flags || !t->value || !t->grad || !is_input ||
            !t->input_slot || !t->output_slot)
            status = -1;
    }
    if (status == 0) {
        /* which inputs are reached, while the marks still say so */
        for (size_t i = 0; i < input_count; i++)
            t->input_slot[i] = mgc__node(inputs[i])->mark == epoch ? 0 : NO_SLOT;
        for (uint32_t k = 0; k < count / 2; k++) {  /* slots run children first */
            mgc_id swap = order.ids[k];
            order.ids[k] = order.ids[count - 1 - k];
            order.ids[count - 1 - k] = swap;
        }
        for (uint32_t k = 0; k < count; k++) mgc__node(order.ids[k])->mark = k;
        status = by_level(order.ids, count);
        for (uint32_t k = 0; k < count; k++) mgc__node(order.ids[k])->mark = k;
        for (size_t i = 0; i < input_count; i++)
            if (t->input_slot[i] != NO_SLOT) {
                t->input_slot[i] = mgc__node(inputs[i])->mark;
                is_input[t->input_slot[i]] = 1;
            }
        for (size_t i = 0; i < output_count; i++) t->output_slot[i] = mgc__node(outputs[i])->mark;
        if (status == 0) status = fill(t, order.ids, is_input);
        if (status == 0)
            for (uint32_t i = 0; i < t->leaf_count; i++) mgc__node(t->leaf_id[i])->refs++;
        else
            t->leaf_count = 0;  /* no references were taken */
    }
    for (size_t k = 0; k < order.count; k++) mgc__node(order.ids[k])->mark = 0;  /* no epoch is 0 */
    mgc__order_return(&order);
    mgc__unlock();
    free(is_input);
    if (status != 0) {
        mgc_tape_free(t);
        return NULL;
    }
    /* MICROGRADC_THREAD_GRAIN sets the grain (0: every block shares its work), so the
     * tests can make small blocks do so */
    const char *grain = getenv("MICROGRADC_THREAD_GRAIN");
    char *end = NULL;
    t->grain = grain ? strtoull(grain, &end, 10) : 0;
    if (!grain || !*grain || *end) t->grain = THREAD_GRAIN;
    t->inputs_at = t->input_count ? t->input_slot[0] : NO_SLOT;
    for (uint32_t i = 1; i < t->input_count && t->inputs_at != NO_SLOT; i++)
        if (t->input_slot[i] != t->inputs_at + i) t->inputs_at = NO_SLOT;
    if (mark_from_loss(t) || find_dense(t) || find_direct(t)) {
        mgc_tape_free(t);
        return NULL;
    }
    mark_dot_groups(t);
    if (list_steps(t) || list_zero_ranges(t)) {
        mgc_tape_free(t);
        return NULL;
    }
    return t;
}

/* ----------------------------------------------------------------------------
 * running */

/* GROUP dots from slot s, each the arithmetic of mgc__dot_forward, interleaved so
 * that their additions overlap instead of waiting on one another */
static void dot_group_forward(mgc_tape *t, uint32_t s) {
    const double *v = t->value;
    uint32_t count = t->b[s], n = count / 2;
    const uint32_t *w[GROUP], *x[GROUP];
    double sum[GROUP];
    for (uint32_t k = 0; k < GROUP; k++) {
        w[k] = dot_w(t, s + k);
        x[k] = dot_x(t, s + k);
        sum[k] = count % 2 ? v[w[k][n]] : 0.0;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < GROUP; k++) sum[k] = sum[k] + v[w[k][i]] * v[x[k][i]];
    for (uint32_t k = 0; k < GROUP; k++) t->value[s + k] = sum[k];
}

/* ----------------------------------------------------------------------------
 * running dense blocks: the loops go across neurons (forward, weight grads) or
 * across inputs (input grads), each element's own sum in the eager order, so
 * the compiler can vectorize them without reassociating anything */


/* acc[j] = acc[j] + wt[i][j] * x[i] for i in order: sums across nout neurons, four
 * inputs a pass so that each sum is loaded and stored once for four terms */
MGC_VECTOR static void rows_forward(const double *restrict wt, const double *restrict x,
                                    double *restrict acc, uint32_t nin, uint32_t nout) {
    uint32_t i = 0;
    for (; i + 4 <= nin; i += 4) {
        const double *restrict r0 = wt + (size_t)i * nout, *restrict r1 = r0 + nout,
                               *restrict r2 = r1 + nout, *restrict r3 = r2 + nout;
        double x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        for (uint32_t j = 0; j < nout; j++)
            acc[j] = (((acc[j] + r0[j] * x0) + r1[j] * x1) + r2[j] * x2) + r3[j] * x3;
    }
    for (; i < nin; i++) {
        const double *restrict row = wt + (size_t)i * nout;
        double xi = x[i];
        for (uint32_t j = 0; j < nout; j++) acc[j] = acc[j] + row[j] * xi;
    }
}

/* out[i] = out[i] + x[i] * g, across n: a weight row's grads, or an input row's */
MGC_VECTOR static void axpy(double *restrict out, const double *restrict x, double g, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) out[i] = out[i] + x[i] * g;
}

/* the dense block's kernels (dense.h): a copy for 4-double vectors, cloned for AVX2 with
 * a portable default, and where GCC targets x86-64 one for AVX-512's 8-double
 * vectors, taken when the CPU has them. Every copy gives the same bits */
#if defined(__GNUC__)
typedef double v4d __attribute__((vector_size(32), aligned(8)));
#define VEC v4d
#define LANES 4
#endif
#define KERNEL(name) name##_256
#define KERNEL_ATTR MGC_VECTOR
#include "dense.h"
#undef VEC
#undef LANES
#undef KERNEL
#undef KERNEL_ATTR

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
typedef double v8d __attribute__((vector_size(64), aligned(8)));
#define VEC v8d
#define LANES 8
#define KERNEL(name) name##_512
#define KERNEL_ATTR __attribute__((target("avx512f")))
#include "dense.h"
#undef VEC
#undef LANES
#undef KERNEL
#undef KERNEL_ATTR

/* whether the 512 copies run: set once, as the core loads. MICROGRADC_NO_AVX512 in
 * the environment keeps them off, so that the tests can compare the two */
static int avx512;

__attribute__((constructor)) static void choose_kernels(void) {
    __builtin_cpu_init();
    avx512 = __builtin_cpu_supports("avx512f") && !getenv("MICROGRADC_NO_AVX512");
}
#define WIDE(name, ...) (avx512 ? name##_512(__VA_ARGS__) : name##_256(__VA_ARGS__))
#else
#define WIDE(name, ...) name##_256(__VA_ARGS__)
#endif

static void block_forward(const double *wt, const double *bias, const double *x, double *out,
                          uint32_t rows, uint32_t nin, uint32_t nout) {
    WIDE(block_forward, wt, bias, x, out, rows, nin, nout);
}

static void block_weight_grads(double *const *gwrow, int from_zero, const double *x,
                               const double *g, uint32_t rows, uint32_t nin, uint32_t nout,
                               uint32_t ldg) {
    WIDE(block_weight_grads, gwrow, from_zero, x, g, rows, nin, nout, ldg);
}

static void block_input_grads(double *gx, const double *const *wrow, const double *g,
                              uint32_t rows, uint32_t nin, uint32_t nout) {
    WIDE(block_input_grads, gx, wrow, g, rows, nin, nout);
}

static void sparse_weight_grads(double *const *gwrow, const double *x, const uint32_t *rows,
                                const double *g, const uint32_t *count, uint32_t stride,
                                uint32_t nin, uint32_t nout) {
    WIDE(sparse_weight_grads, gwrow, x, rows, g, count, stride, nin, nout);
}




/* the shares of a block's work that threads run (mgc__pool_run): each writes its
 * own neurons' or rows' outputs, each computed as one thread would, so the bits
 * are the same for any number of threads */
typedef struct {
    mgc_tape *t;
    mgc_dense *d;
} block_job;

/* neurons [from, to) of the weights gathered: input-major, neuron-major (but for a
 * direct block, whose rows in the arena are that), biases */
static void gather_weights_part(void *context, uint32_t part, uint32_t parts) {
    block_job *job = context;
    mgc_dense *d = job->d;
    const double *v = job->t->value;
    uint32_t nin = d->nin, nout = d->nout, from, to;
    mgc__part_range(nout, 1, part, parts, &from, &to);
    if (d->direct) split_rows(d, from, to, 0, 0);
    for (uint32_t j0 = from; j0 < to; j0 += 8) {  /* eight neurons: a line of wt an input */
        uint32_t j1 = to - j0 < 8 ? to : j0 + 8;
        if (d->direct) {
            for (uint32_t i = 0; i < nin; i++)
                for (uint32_t j = j0; j < j1; j++) d->wt[(size_t)i * nout + j] = d->wrow[j][i];
            continue;
        }
        for (uint32_t i = 0; i < nin; i++)
            for (uint32_t j = j0; j < j1; j++) {
                size_t k = (size_t)j * nin + i;
                d->wn[k] = d->wt[(size_t)i * nout + j] = v[d->w[k]];
            }
    }
    for (uint32_t j = from; j < to; j++)
        d->bv[j] = !d->has_bias ? 0.0 : d->direct ? *d->bval[j] : v[d->bias[j]];
}

/* the weights of block d, as a run reads them */
static void gather_weights(mgc_tape *t, mgc_dense *d) {
    block_job job = {t, d};
    gather_weights_part(&job, 0, 1);
}

/* rows [from, to) forward: their inputs gathered, then their sums */
static void rows_forward_part(void *context, uint32_t part, uint32_t parts) {
    block_job *job = context;
    mgc_tape *t = job->t;
    mgc_dense *d = job->d;
    uint32_t nin = d->nin, nout = d->nout, from, to;
    mgc__part_range(d->rows, 4, part, parts, &from, &to);
    for (uint32_t r = from; r < to && !d->x_in_place; r++) {
        const uint32_t *xs = row_inputs(t, d, r);
        double *x = d->x + (size_t)r * nin;
        for (uint32_t i = 0; i < nin; i++) x[i] = t->value[xs[i]];
    }
    if (to > from)
        block_forward(d->wt, d->bv, d->x + (size_t)from * nin, t->value + d->first + (size_t)from * nout,
                      to - from, nin, nout);
}

/* the threads for block d's kernels: the tape's, when the block is big enough to gain
 * from them; else none. Handing a pass's parts over and back costs some microseconds,
 * more than a second thread saves on a small layer (on the bench's MNIST-shaped one,
 * 1.25M multiply-adds, two threads were slower than one), as PyTorch keeps ops below
 * its grain size on one thread */
static mgc_pool *block_pool(const mgc_tape *t, const mgc_dense *d) {
    return (uint64_t)d->rows * d->nin * d->nout >= t->grain ? t->pool : NULL;
}

/* a block whose rows run together, forward: every row's dots from slot d->first on */
static void block_rows_forward(mgc_tape *t, mgc_dense *d) {
    block_job job = {t, d};
    mgc__pool_run(block_pool(t, d), gather_weights_part, &job);
    mgc__pool_run(block_pool(t, d), rows_forward_part, &job);
}

/* neurons [from, to) of a direct block: their weight grads summed from 0 and added to
 * the arena's. Where many of their grads are 0 (a ReLU layer's), each neuron sums
 * only the rows whose grad is not. That leaves out terms x * 0 = 0, which would not
 * change the sum (a sum from +0 is never -0), unless x is inf or NaN: then every
 * dot of x's row is inf or NaN, so a row whose first dot is finite has no such x,
 * and any other row is kept whole. The bits are the same either way */
static void weight_grads_from_zero(const mgc_tape *t, mgc_dense *d, uint32_t from, uint32_t to) {
    uint32_t nin = d->nin, nout = d->nout, rows = d->rows, zeros = 0;
    const double *gout = t->grad + d->first, *out = t->value + d->first;
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t j = from; j < to; j++) zeros += gout[(size_t)r * nout + j] == 0.0;
    if (4 * (uint64_t)zeros < (uint64_t)rows * (to - from)) {  /* under a quarter: dense */
        block_weight_grads(d->gwrow + from, 1, d->x, gout + from, rows, nin, to - from, nout);
        return;
    }
    for (uint32_t j = from; j < to; j++) {
        uint32_t *picked = d->picked + (size_t)j * rows, count = 0;
        double *g = d->picked_g + (size_t)j * rows;
        for (uint32_t r = rows; r-- > 0;) {  /* the last row first, as the eager order */
            double gj = gout[(size_t)r * nout + j];
            if (gj == 0.0 && isfinite(out[(size_t)r * nout])) continue;
            picked[count] = r;
            g[count++] = gj;
        }
        d->picked_count[j] = count;
    }
    sparse_weight_grads(d->gwrow + from, d->x, d->picked + (size_t)from * rows,
                        d->picked_g + (size_t)from * rows, d->picked_count + from, rows, nin,
                        to - from);
}

/* neurons [from, to) backward: their weights' and biases' grads, each in the eager order */
static void weight_grads_part(void *context, uint32_t part, uint32_t parts) {
    block_job *job = context;
    mgc_dense *d = job->d;
    double *g = job->t->grad;
    const double *gout = g + d->first;
    uint32_t nin = d->nin, nout = d->nout, rows = d->rows, from, to;
    mgc__part_range(nout, 4, part, parts, &from, &to);
    if (to == from) return;
    if (d->direct) {  /* the slots' grads would start at 0 and be added to the arena's */
        split_rows(d, from, to, 1, 0);
        weight_grads_from_zero(job->t, d, from, to);
        split_rows(d, from, to, 1, 1);
        for (uint32_t j = from; j < to && d->has_bias; j++) {
            double sum = 0.0;
            for (uint32_t r = rows; r-- > 0;) sum += gout[(size_t)r * nout + j];
            *d->bgrad[j] += sum;
        }
        return;
    }
    size_t lo = (size_t)from * nin, hi = (size_t)to * nin;
    for (size_t k = lo; k < hi; k++) d->gw[k] = g[d->w[k]];
    block_weight_grads(d->gwrow + from, 0, d->x, gout + from, rows, nin, to - from, nout);
    for (size_t k = lo; k < hi; k++) g[d->w[k]] = d->gw[k];
    if (d->has_bias)
        for (uint32_t j = from; j < to; j++)
            for (uint32_t r = rows; r-- > 0;) g[d->bias[j]] += gout[(size_t)r * nout + j];
}

/* rows [from, to) backward: their inputs' grads */
static void input_grads_part(void *context, uint32_t part, uint32_t parts) {
    block_job *job = context;
    mgc_tape *t = job->t;
    mgc_dense *d = job->d;
    double *g = t->grad;
    uint32_t nin = d->nin, nout = d->nout, from, to;
    mgc__part_range(d->rows, 4, part, parts, &from, &to);
    for (uint32_t r = from; r < to && !d->x_in_place; r++) {
        const uint32_t *xs = row_inputs(t, d, r);
        for (uint32_t i = 0; i < nin; i++) d->gx[(size_t)r * nin + i] = g[xs[i]];
    }
    if (to > from)
        block_input_grads(d->gx + (size_t)from * nin, d->wrow, g + d->first + (size_t)from * nout,
                          to - from, nin, nout);
    for (uint32_t r = from; r < to && !d->x_in_place; r++) {
        const uint32_t *xs = row_inputs(t, d, r);
        for (uint32_t i = 0; i < nin; i++) g[xs[i]] = d->gx[(size_t)r * nin + i];
    }
}

/* the same block backward: each grad gets its contributions in the eager order */
static void block_rows_backward(mgc_tape *t, mgc_dense *d) {
    block_job job = {t, d};
    mgc__pool_run(block_pool(t, d), weight_grads_part, &job);
    if (d->need_gx) mgc__pool_run(block_pool(t, d), input_grads_part, &job);
}

static void dense_forward(mgc_tape *t, uint32_t s) {
    mgc_dense *d = &t->dense[t->member[s] - 1];
    double *v = t->value, *x = t->row_scratch, *acc = x + d->nin;
    uint32_t nin = d->nin, nout = d->nout;
    if (s == d->first) gather_weights(t, d);  /* once a run: nothing before the block changes them */
    const uint32_t *xs = dot_x(t, s);
    for (uint32_t i = 0; i < nin; i++) x[i] = v[xs[i]];
    memcpy(acc, d->bv, nout * sizeof(double));
    rows_forward(d->wt, x, acc, nin, nout);
    memcpy(v + s, acc, nout * sizeof(double));
}

/* the row group ending at slot tail, backward: its dots' rules, as
 * mgc__dot_backward would apply them from the last dot to the first */
static void dense_backward(mgc_tape *t, uint32_t tail) {
    mgc_dense *d = &t->dense[t->member[tail] - 1];
    uint32_t nin = d->nin, nout = d->nout, head = tail + 1 - nout;
    double *v = t->value, *g = t->grad, *x = t->row_scratch, *gx = x + nin + nout;
    size_t weights = (size_t)nout * nin;
    if (!d->lazy || head == d->last)  /* the first of the block's rows backward meets */
        for (size_t k = 0; k < weights; k++) d->gw[k] = g[d->w[k]];
    const uint32_t *xs = dot_x(t, head);
    for (uint32_t i = 0; i < nin; i++) x[i] = v[xs[i]];
    if (d->need_gx)
        for (uint32_t i = 0; i < nin; i++) gx[i] = g[xs[i]];
    for (uint32_t j = nout; j-- > 0;) {
        if (!(t->flags[head + j] & FROM_LOSS)) continue;
        double gj = g[head + j];
        axpy(d->gw + (size_t)j * nin, x, gj, nin);      /* w.grad += x * g */
        if (d->need_gx) axpy(gx, d->wn + (size_t)j * nin, gj, nin);  /* x.grad += w * g */
        if (d->has_bias) g[d->bias[j]] += gj;
    }
    if (d->need_gx)
        for (uint32_t i = 0; i < nin; i++) g[xs[i]] = gx[i];
    if (!d->lazy || head == d->first)  /* the last */
        for (size_t k = 0; k < weights; k++) g[d->w[k]] = d->gw[k];
}

/* a select's row, or 0 when its index names none */
static inline int select_row(const mgc_tape *t, uint32_t s, uint32_t *row) {
    const uint32_t *c = t->edges + t->a[s];
    uint32_t rows = t->losses[t->b[s]].count - 1;
    if (!mgc__select_row(t->value[c[rows]], rows, row)) return 0;
    *row = c[*row];
    return 1;
}

/* 0, or 1 when a select's index named no row (its value is NaN then) */
static int forward(mgc_tape *t) {
    double *v = t->value;
    int bad = 0;
    for (uint32_t k = 0; k < t->step_count; k++) {
        uint32_t s = t->steps[k];
        int op = t->op[s];
        if (t->flags[s] & ROW_HEAD) {
            mgc_dense *d = &t->dense[t->member[s] - 1];
            if (d->together) block_rows_forward(t, d);
            else dense_forward(t, s);
        } else if (t->flags[s] & DOT_GROUP) {
            dot_group_forward(t, s);
        } else if (op == MGC_DOT) {
            v[s] = mgc__dot_forward(dot_w(t, s), dot_x(t, s), t->b[s] / 2, t->b[s] % 2, tape_slot, t);
        } else if (op == MGC_SELECT) {  /* one read, not a gather of every row */
            uint32_t row;
            if (select_row(t, s, &row)) {
                v[s] = v[row];
            } else {
                v[s] = NAN;
                bad = 1;
            }
        } else if (mgc__is_kernel(op)) {
            const mgc_loss *loss = &t->losses[t->b[s]];
            const uint32_t *child = t->edges + t->a[s];
            for (uint32_t i = 0; i < loss->count; i++) t->scratch[i] = v[child[i]];
            v[s] = mgc__loss_forward(loss, t->scratch);
        } else {
            v[s] = mgc__forward(op, v[t->a[s]], t->b[s] == NO_SLOT ? 0.0 : v[t->b[s]]);
        }
    }
    return bad;
}

/* slot s's rule, backward, unless the loss does not reach it */
static void slot_backward(mgc_tape *t, uint32_t s) {
    double *v = t->value, *g = t->grad, unused = 0.0;
    int op = t->op[s];
    if (!(t->flags[s] & FROM_LOSS)) return;
    if (op == MGC_DOT) {
        mgc__dot_backward(dot_w(t, s), dot_x(t, s), t->b[s] / 2, t->b[s] % 2, g[s], tape_slot, t);
    } else if (op == MGC_SELECT) {
        uint32_t row;
        if (select_row(t, s, &row)) g[row] += g[s];
    } else if (op == MGC_SHIFT) {
        return;  /* a softmax's shift: a constant to backward */
    } else if (mgc__is_kernel(op)) {
        const mgc_loss *loss = &t->losses[t->b[s]];
        const uint32_t *child = t->edges + t->a[s];
        double *gathered = t->scratch, *grads = t->scratch + loss->count;
        for (uint32_t i = 0; i < loss->count; i++) gathered[i] = v[child[i]];
        memset(grads, 0, loss->count * sizeof(double));
        mgc__loss_backward(loss, gathered, v[s], g[s], grads);
        for (uint32_t i = 0; i < loss->count; i++) g[child[i]] += grads[i];
    } else {
        uint32_t a = t->a[s], b = t->b[s];
        mgc__backward(op, v[a], b == NO_SLOT ? 0.0 : v[b], v[s], g[s], &g[a],
                      b == NO_SLOT ? &unused : &g[b]);
    }
}

static void backward(mgc_tape *t) {
    for (uint32_t k = 0; k < t->zero_count; k++)  /* a direct weight's grad is never used */
        memset(t->grad + t->zero[2 * k], 0, (t->zero[2 * k + 1] - t->zero[2 * k]) * sizeof(double));
    t->grad[t->output_slot[0]] = 1.0;
    for (uint32_t k = t->step_count; k-- > 0;) {
        uint32_t s = t->steps[k];
        if (t->flags[s] & ROW_HEAD) {
            mgc_dense *d = &t->dense[t->member[s] - 1];
            if (d->together) block_rows_backward(t, d);
            else dense_backward(t, s + d->nout - 1);
        } else if (t->flags[s] & DOT_GROUP) {
            for (uint32_t q = GROUP; q-- > 0;) slot_backward(t, s + q);
        } else {
            slot_backward(t, s);
        }
    }
}

/* the steps of a run: every slot that is not a leaf, a dot group or a row group as
 * its first slot, a block whose rows run together as its first. 0 or -1 */
static int list_steps(mgc_tape *t) {
    t->steps = malloc((t->slots ? t->slots : 1) * sizeof(uint32_t));
    if (!t->steps) return -1;
    for (uint32_t s = 0; s < t->slots; s++) {
        if (t->op[s] == MGC_LEAF) continue;
        t->steps[t->step_count++] = s;
        if (t->flags[s] & ROW_HEAD) {
            const mgc_dense *d = &t->dense[t->member[s] - 1];
            s += (d->together ? d->rows * d->nout : d->nout) - 1;
        } else if (t->flags[s] & DOT_GROUP) {
            s += GROUP - 1;
        }
    }
    return 0;
}

/* the slot ranges whose grads backward zeroes: all but a direct block's parameters
 * (never read) and the inputs no rule adds a grad to (a block that wants no input
 * grads leaves its rows' inputs alone; nothing reads an input's grad). 0 or -1 */
static int list_zero_ranges(mgc_tape *t) {
    /* 1: a direct block's parameter; 2: an input, until a rule is seen to add to it */
    uint8_t *unzeroed = calloc(t->slots ? t->slots : 1, 1);
    uint32_t ranges = 0;
    if (!unzeroed) return -1;
    for (uint32_t b = 0; b < t->dense_count; b++)
        for (size_t k = 0; t->dense[b].direct && k < block_params(&t->dense[b]); k++)
            unzeroed[param_slot(&t->dense[b], k)] = 1;
    for (uint32_t i = 0; i < t->input_count; i++)
        if (t->input_slot[i] != NO_SLOT) unzeroed[t->input_slot[i]] = 2;
    uint8_t *reached = calloc(t->dense_count ? t->dense_count : 1, 1);  /* a block's rules run */
    if (!reached) {
        free(unzeroed);
        return -1;
    }
    for (uint32_t s = 0; s < t->slots; s++) {
        uint32_t count[2], pair[2];
        const uint32_t *run[2];
        if (t->member[s]) {  /* the row group's inputs once, its block's parameters below */
            mgc_dense *d = &t->dense[t->member[s] - 1];
            if (!(t->flags[s] & ROW_HEAD) || !d->need_gx) continue;
            int from_loss = 0;
            for (uint32_t j = 0; j < d->nout; j++) from_loss |= t->flags[s + j] & FROM_LOSS;
            if (!from_loss) continue;
            reached[t->member[s] - 1] = 1;
            run[0] = run[1] = dot_x(t, s);
            count[0] = d->nin;
            count[1] = 0;
        } else if (t->flags[s] & FROM_LOSS) {
            slot_children(t, s, run, count, pair);
        } else {
            continue;
        }
        for (int r = 0; r < 2; r++)
            for (uint32_t i = 0; i < count[r]; i++)
                if (run[r][i] != NO_SLOT && unzeroed[run[r][i]] == 2) unzeroed[run[r][i]] = 0;
    }
    for (uint32_t b = 0; b < t->dense_count; b++)
        for (size_t k = 0; reached[b] && k < block_params(&t->dense[b]); k++)
            if (unzeroed[param_slot(&t->dense[b], k)] == 2) unzeroed[param_slot(&t->dense[b], k)] = 0;
    free(reached);
    for (uint32_t s = 0; s < t->slots; s++) ranges += !unzeroed[s] && (s == 0 || unzeroed[s - 1]);
    t->zero = malloc((ranges ? ranges : 1) * 2 * sizeof(uint32_t));
    for (uint32_t s = 0; s < t->slots && t->zero; s++) {
        if (unzeroed[s]) continue;
        uint32_t from = s;
        while (s < t->slots && !unzeroed[s]) s++;
        t->zero[2 * t->zero_count] = from;
        t->zero[2 * t->zero_count++ + 1] = s;
    }
    free(unzeroed);
    return t->zero ? 0 : -1;
}

int mgc_tape_run(mgc_tape *t, const double *inputs, double *outputs) {
    mgc__lock();
    for (uint32_t i = 0; i < t->loop_leaves; i++) t->value[t->leaf_slot[i]] = *mgc__data(t->leaf_id[i]);
    if (t->inputs_at != NO_SLOT)
        memcpy(t->value + t->inputs_at, inputs, t->input_count * sizeof(double));
    else
        for (uint32_t i = 0; i < t->input_count; i++)
            if (t->input_slot[i] != NO_SLOT) t->value[t->input_slot[i]] = inputs[i];
    int bad = forward(t);
    for (uint32_t i = 0; i < t->output_count; i++) outputs[i] = t->value[t->output_slot[i]];
    if (bad) {  /* no grads from a forward that had no number to give */
        mgc__unlock();
        return 1;
    }
    backward(t);
    for (uint32_t i = 0; i < t->loop_leaves; i++) {
        uint32_t slot = t->leaf_slot[i];
        double *grad = mgc__grad(t->leaf_id[i]);
        if (slot == t->output_slot[0]) *grad = 1.0;  /* a leaf loss: backward() sets the root */
        else if (t->flags[slot] & FROM_LOSS) *grad += t->grad[slot];
    }
    mgc__unlock();
    return 0;
}

size_t mgc_tape_slots(const mgc_tape *tape) { return tape->slots; }

size_t mgc_tape_python_ops(const mgc_tape *tape) { return tape->python_ops; }

size_t mgc_tape_dense_blocks(const mgc_tape *tape) { return tape->dense_count; }

int mgc_tape_set_threads(mgc_tape *tape, size_t threads) {
    if (threads < 1 || threads > UINT32_MAX) return -1;
    mgc_pool *pool = NULL;
    if (threads > 1 && !(pool = mgc__pool_new((uint32_t)threads))) return -1;
    mgc__lock();  /* no run is using the old pool */
    mgc_pool *old = tape->pool;
    tape->pool = pool;
    mgc__unlock();
    mgc__pool_free(old);
    return 0;
}
