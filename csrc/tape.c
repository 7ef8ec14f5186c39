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
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ops.h"

#define NO_SLOT UINT32_MAX

/* per-slot flags */
#define FROM_LOSS 0x1u           /* the loss reaches the slot: backward applies its rule */
#define DOT_GROUP 0x2u           /* the first of GROUP dots of one length that read no
                                    slot of the group: their sums can run interleaved */
#define GROUP 4

struct mgc_tape {
    uint32_t slots;              /* nodes, children before parents */
    uint8_t *op;                 /* enum mgc_op of each slot; leaves are MGC_LEAF */
    uint32_t *a, *b;             /* unary/binary: child slots (b = NO_SLOT for unary);
                                    dot: a = first entry in edges, b = entry count;
                                    losses: a = first entry in edges, b = index in losses */
    uint8_t *flags;              /* FROM_LOSS | DOT_GROUP */
    double *value, *grad;        /* per slot, rewritten by every run */
    uint32_t *edges;             /* n-ary children as slots, node after node */
    mgc_loss *losses;            /* loss nodes' shapes; targets point into edges */
    uint32_t loss_count;
    uint32_t leaf_count;         /* live leaves: data read, grad added back */
    uint32_t *leaf_slot;
    mgc_id *leaf_id;             /* held by the tape */
    uint32_t input_count;
    uint32_t *input_slot;        /* NO_SLOT for an input the outputs do not reach */
    uint32_t output_count;
    uint32_t *output_slot;
    size_t python_ops;           /* nodes whose forward or rule is in Python */
    double *scratch;             /* a loss's gathered values and grads */
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
    free(tape);
}

/* ----------------------------------------------------------------------------
 * building */

/* fills the tape's slots from nodes[] (slot after slot), whose marks hold
 * their slots; the inputs' ids are in is_input's set. 0 or -1 */
static int fill(mgc_tape *t, const mgc_id *nodes, const uint8_t *is_input) {
    size_t edge_count = 0, loss_count = 0, leaf_count = 0, scratch = 0;
    for (uint32_t s = 0; s < t->slots; s++) {
        const mgc_node *node = mgc__node(nodes[s]);
        uint32_t children;
        mgc__children(node, &children);
        if (node->flags & MGC_NARY_FLAG && node->op != MGC_OPAQUE) {
            edge_count += children + (node->op == MGC_SOFTMAX_CE ? children / node->in.edges[MGC_EDGE_TEXT] : 0);
            if (node->op != MGC_DOT) {
                loss_count++;
                if (2 * (size_t)children > scratch) scratch = 2 * (size_t)children;
            }
        }
        if ((node->op == MGC_LEAF && !is_input[s]) || node->op == MGC_OPAQUE) leaf_count++;
        if ((node->op == MGC_OPAQUE && children) || node->flags & MGC_PY_RULE) t->python_ops++;
    }
    t->edges = malloc((edge_count ? edge_count : 1) * sizeof(uint32_t));
    t->losses = malloc((loss_count ? loss_count : 1) * sizeof(mgc_loss));
    t->leaf_slot = malloc((leaf_count ? leaf_count : 1) * sizeof(uint32_t));
    t->leaf_id = calloc(leaf_count ? leaf_count : 1, sizeof(mgc_id));
    t->scratch = malloc((scratch ? scratch : 1) * sizeof(double));
    if (!t->edges || !t->losses || !t->leaf_slot || !t->leaf_id || !t->scratch) return -1;

    size_t edge = 0;
    for (uint32_t s = 0; s < t->slots; s++) {
        const mgc_node *node = mgc__node(nodes[s]);
        uint32_t children;
        const mgc_id *child = mgc__children(node, &children);
        t->op[s] = node->op;
        t->a[s] = t->b[s] = NO_SLOT;
        if ((node->op == MGC_LEAF && !is_input[s]) || node->op == MGC_OPAQUE) {
            t->op[s] = MGC_LEAF;  /* an opaque node replays as the number it holds */
            t->leaf_slot[t->leaf_count] = s;
            t->leaf_id[t->leaf_count++] = nodes[s];
        } else if (node->flags & MGC_NARY_FLAG) {
            t->a[s] = (uint32_t)edge;
            for (uint32_t i = 0; i < children; i++) t->edges[edge++] = mgc__node(child[i])->mark;
            if (node->op == MGC_DOT) {
                t->b[s] = children;
            } else {
                mgc_loss loss = mgc__node_loss(node);
                if (loss.targets) {  /* the class indices follow the children */
                    size_t rows = loss.count / loss.classes;
                    memcpy(t->edges + edge, loss.targets, rows * sizeof(uint32_t));
                    loss.targets = t->edges + edge;
                    edge += rows;
                }
                t->b[s] = t->loss_count;
                t->losses[t->loss_count++] = loss;
            }
        } else if (children) {
            t->a[s] = mgc__node(child[0])->mark;
            if (children == 2) t->b[s] = mgc__node(child[1])->mark;
        }
    }
    return 0;
}

/* FROM_LOSS: the slots the loss reaches, parents before children */
static void mark_from_loss(mgc_tape *t) {
    t->flags[t->output_slot[0]] |= FROM_LOSS;
    for (uint32_t s = t->slots; s-- > 0;) {
        if (!(t->flags[s] & FROM_LOSS) || t->op[s] == MGC_LEAF) continue;
        if (t->op[s] == MGC_DOT || t->op[s] >= MGC_MSE) {
            uint32_t count = t->op[s] == MGC_DOT ? t->b[s] : t->losses[t->b[s]].count;
            for (uint32_t i = 0; i < count; i++) t->flags[t->edges[t->a[s] + i]] |= FROM_LOSS;
        } else {
            if (t->a[s] != NO_SLOT) t->flags[t->a[s]] |= FROM_LOSS;
            if (t->b[s] != NO_SLOT) t->flags[t->b[s]] |= FROM_LOSS;
        }
    }
}

/* DOT_GROUP: runs of GROUP independent dots of one length, as a layer's neurons are */
static void mark_dot_groups(mgc_tape *t) {
    for (uint32_t s = 0; s + GROUP <= t->slots; s++) {
        int grouped = 1;
        for (uint32_t k = 0; k < GROUP && grouped; k++) {
            uint32_t slot = s + k;
            grouped = t->op[slot] == MGC_DOT && t->b[slot] == t->b[s];
            for (uint32_t i = 0; i < t->b[s] && grouped; i++) grouped = t->edges[t->a[slot] + i] < s;
        }
        if (grouped) {
            t->flags[s] |= DOT_GROUP;
            s += GROUP - 1;
        }
    }
}

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
        t->flags = calloc(count ? count : 1, 1);
        t->value = malloc(count * sizeof(double));
        t->grad = malloc(count * sizeof(double));
        is_input = calloc(count, 1);
        if (!t->op || !t->a || !t->b || !t->flags || !t->value || !t->grad || !is_input ||
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
        for (size_t i = 0; i < input_count; i++)
            if (t->input_slot[i] != NO_SLOT) {
                t->input_slot[i] = mgc__node(inputs[i])->mark;
                is_input[t->input_slot[i]] = 1;
            }
        for (size_t i = 0; i < output_count; i++) t->output_slot[i] = mgc__node(outputs[i])->mark;
        status = fill(t, order.ids, is_input);
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
    mark_from_loss(t);
    mark_dot_groups(t);
    return t;
}

/* ----------------------------------------------------------------------------
 * running */

/* GROUP dots from slot s, each the arithmetic of mgc__dot_forward, interleaved so
 * that their additions overlap instead of waiting on one another */
static void dot_group_forward(mgc_tape *t, uint32_t s) {
    const double *v = t->value;
    uint32_t count = t->b[s], n = count / 2;
    const uint32_t *c[GROUP];
    double sum[GROUP];
    for (uint32_t k = 0; k < GROUP; k++) {
        c[k] = t->edges + t->a[s + k];
        sum[k] = count % 2 ? v[c[k][count - 1]] : 0.0;
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < GROUP; k++) sum[k] = sum[k] + v[c[k][i]] * v[c[k][n + i]];
    for (uint32_t k = 0; k < GROUP; k++) t->value[s + k] = sum[k];
}

static void forward(mgc_tape *t) {
    double *v = t->value;
    for (uint32_t s = 0; s < t->slots; s++) {
        int op = t->op[s];
        if (op == MGC_LEAF) continue;
        if (t->flags[s] & DOT_GROUP) {
            dot_group_forward(t, s);
            s += GROUP - 1;
        } else if (op == MGC_DOT) {
            v[s] = mgc__dot_forward(t->edges + t->a[s], t->b[s], tape_slot, t);
        } else if (op >= MGC_MSE) {
            const mgc_loss *loss = &t->losses[t->b[s]];
            const uint32_t *child = t->edges + t->a[s];
            for (uint32_t i = 0; i < loss->count; i++) t->scratch[i] = v[child[i]];
            v[s] = mgc__loss_forward(loss, t->scratch);
        } else {
            v[s] = mgc__forward(op, v[t->a[s]], t->b[s] == NO_SLOT ? 0.0 : v[t->b[s]]);
        }
    }
}

static void backward(mgc_tape *t) {
    double *v = t->value, *g = t->grad, unused = 0.0;
    memset(g, 0, t->slots * sizeof(double));
    g[t->output_slot[0]] = 1.0;
    for (uint32_t s = t->slots; s-- > 0;) {
        int op = t->op[s];
        if (op == MGC_LEAF || !(t->flags[s] & FROM_LOSS)) continue;
        if (op == MGC_DOT) {
            mgc__dot_backward(t->edges + t->a[s], t->b[s], g[s], tape_slot, t);
        } else if (op >= MGC_MSE) {
            const mgc_loss *loss = &t->losses[t->b[s]];
            const uint32_t *child = t->edges + t->a[s];
            double *gathered = t->scratch, *grads = t->scratch + loss->count;
            for (uint32_t i = 0; i < loss->count; i++) gathered[i] = v[child[i]];
            memset(grads, 0, loss->count * sizeof(double));
            mgc__loss_backward(loss, gathered, g[s], grads);
            for (uint32_t i = 0; i < loss->count; i++) g[child[i]] += grads[i];
        } else {
            uint32_t a = t->a[s], b = t->b[s];
            mgc__backward(op, v[a], b == NO_SLOT ? 0.0 : v[b], v[s], g[s], &g[a],
                          b == NO_SLOT ? &unused : &g[b]);
        }
    }
}

void mgc_tape_run(mgc_tape *t, const double *inputs, double *outputs) {
    mgc__lock();
    for (uint32_t i = 0; i < t->leaf_count; i++)
        t->value[t->leaf_slot[i]] = mgc__node(t->leaf_id[i])->data;
    for (uint32_t i = 0; i < t->input_count; i++)
        if (t->input_slot[i] != NO_SLOT) t->value[t->input_slot[i]] = inputs[i];
    forward(t);
    backward(t);
    for (uint32_t i = 0; i < t->leaf_count; i++) {
        uint32_t slot = t->leaf_slot[i];
        mgc_node *leaf = mgc__node(t->leaf_id[i]);
        if (slot == t->output_slot[0]) leaf->grad = 1.0;  /* a leaf loss: backward() sets the root */
        else if (t->flags[slot] & FROM_LOSS) leaf->grad += t->grad[slot];
    }
    for (uint32_t i = 0; i < t->output_count; i++) outputs[i] = t->value[t->output_slot[i]];
    mgc__unlock();
}

size_t mgc_tape_slots(const mgc_tape *tape) { return tape->slots; }

size_t mgc_tape_python_ops(const mgc_tape *tape) { return tape->python_ops; }
