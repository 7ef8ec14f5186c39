/*
 * microgradc.h: the public C interface of the microgradc core, and the cffi cdef.
 *
 * build.py feeds this file to cffi as the declaration of the Python module
 * microgradc._core, after dropping the preprocessor lines, so it must stay in
 * the subset of C that cffi parses: typedefs, enums with values, prototypes.
 * Everything else (the node record, the arena) is private to csrc/.
 *
 * Conventions: a node is named by a 32-bit id; id 0 is never a node, so a
 * function that makes a node returns 0 when memory ran out. Every function
 * takes the core's lock, so any thread may call any function.
 */
#ifndef MICROGRADC_H
#define MICROGRADC_H

#include <stddef.h>
#include <stdint.h>

typedef uint32_t mgc_id;

/* op codes; the comment is micrograd's _op string where micrograd has one */
enum mgc_op {
    MGC_LEAF = 0,     /* ''        a number given by the user */
    MGC_ADD = 1,      /* '+'       */
    MGC_MUL = 2,      /* '*'       */
    MGC_SUB = 3,      /* '-'       */
    MGC_DIV = 4,      /* '/'       */
    MGC_NEG = 5,      /* 'neg'     */
    MGC_POW = 6,      /* '**k'     constant exponent k */
    MGC_POWV = 7,     /* '**'      exponent is a node */
    MGC_RELU = 8,     /* 'ReLU'    */
    MGC_TANH = 9,     /* 'tanh'    */
    MGC_EXP = 10,     /* 'exp'     */
    MGC_LOG = 11,     /* 'log'     */
    MGC_SIGMOID = 12, /* 'sigmoid' */
    MGC_OPAQUE = 13,  /* user-made node with children and no backward rule */
    MGC_DOT = 14,     /* 'dot'     bias + sum of w[i] * x[i]: a fused neuron */
    MGC_MSE = 15,     /* 'mse'     sum of (p[i] - t[i])**2, or its mean */
    MGC_HINGE = 16,   /* 'hinge'   mean of relu(1 - y[i] * s[i]) */
    MGC_L2 = 17,      /* 'l2'      sum of p[i] * p[i] */
    MGC_BCE = 18,     /* 'bce'     mean binary cross-entropy of logits z[i], targets y[i] */
    MGC_SOFTMAX_CE = 19, /* 'softmax_ce' mean cross-entropy of softmax(row) and a class */
    MGC_SOFTMAX_CE_PROBS = 20, /* 'softmax_ce' the same against class probabilities */
    MGC_LOGSUMEXP = 21, /* 'logsumexp' log of the sum of exp(z[i]), shifted by the max */
    MGC_SELECT = 22,  /* 'select'  c[k] of children c[0..n), k the data of child n */
    MGC_SHIFT = 23,   /* 'shift'   the max of z[i], a constant to backward (a softmax's shift) */
    MGC_SOFTMAX = 24  /* 'softmax' exp(a - b): a = z[i] - shift, b the logsumexp of those */
};

/* ---------------------------------------------------------------------------
 * building nodes: each returns the new node's id (holding one reference for the
 * caller), or 0 when memory ran out */

mgc_id mgc_leaf(double data);
/* neg relu tanh exp log sigmoid */
mgc_id mgc_unary(int op, mgc_id a);
/* a ** exponent; exponent_is_int only changes how _op prints */
mgc_id mgc_pow_const(mgc_id a, double exponent, int exponent_is_int);
/* add mul sub div powv: a op b */
mgc_id mgc_binary(int op, mgc_id a, mgc_id b);
/* a op s (scalar_first = 0) or s op a (scalar_first = 1); s becomes a leaf child */
mgc_id mgc_binary_scalar(int op, mgc_id a, double s, int scalar_first);
/* a node with the given data and children and no backward rule */
mgc_id mgc_opaque(double data, const mgc_id *children, size_t count);
/* count new leaves holding data[i], ids written to out; 0, or -1 when memory
 * ran out (then nothing was made) */
int mgc_leaves(const double *data, size_t count, mgc_id *out);
/* bias + w[0] * x[0] + w[1] * x[1] + ..., added left to right as Python's
 * sum(..., bias) does; bias 0 means none (the sum starts from 0.0) */
mgc_id mgc_dot(const mgc_id *w, const mgc_id *x, size_t count, mgc_id bias);
/* a loss over pairs a[i], b[i] (MGC_MSE: predictions, targets; MGC_HINGE:
 * scores, labels; MGC_BCE: logits, targets); mean selects MGC_MSE's mean */
mgc_id mgc_pair_loss(int op, const mgc_id *a, const mgc_id *b, size_t count, int mean);
/* sum of p[i] * p[i] */
mgc_id mgc_l2(const mgc_id *p, size_t count);
/* rows x classes logits, row after row; targets[r] < classes */
mgc_id mgc_softmax_ce(const mgc_id *logits, size_t rows, size_t classes, const uint32_t *targets);
/* the same with a row of class probabilities (rows x classes) as each target */
mgc_id mgc_softmax_ce_probs(const mgc_id *logits, const mgc_id *probs, size_t rows, size_t classes);
/* log(sum of exp(z[i])), computed from the max as torch.logsumexp; count >= 1 */
mgc_id mgc_logsumexp(const mgc_id *z, size_t count);
/* softmax(z) into out[0..count), torch's stable softmax: m = the max of z (a shift
 * node), d[i] = z[i] - m, out[i] = exp(d[i] - logsumexp(d)): d[i] is exact near the
 * max and logsumexp(d) is small, so out[i] is right to the last bits at any scale,
 * with O(count) nodes and work. 0, or -1 when memory ran out (then nothing was made) */
int mgc_softmax(const mgc_id *z, size_t count, mgc_id *out);
/* gathers: cols nodes, out[j] = table[k * cols + j] (rows x cols, row-major) with k the
 * data of index, read whenever the graph runs: an embedding lookup whose row is an
 * input. The caller checks that k is a row; a run that finds a k that is not an
 * integer in [0, rows) gives NaN (mgc_tape_run reports it). 0, or -1 when memory
 * ran out (then nothing was made) */
int mgc_select(const mgc_id *table, size_t rows, size_t cols, mgc_id index, mgc_id *out);
/* a layer's parameters, held once for all its calls: the list holds a reference on
 * each of ids[0..count), and every dot a call of the layer makes reads a run of it
 * instead of holding each weight itself. The caller has one hold on the list, to give
 * back with mgc_operands_free (the dots made from it keep it while they live). NULL
 * when memory ran out */
typedef struct mgc_operands mgc_operands;
mgc_operands *mgc_operands_new(const mgc_id *ids, size_t count);
void mgc_operands_free(mgc_operands *list);
/* no-bias dense layer: out[j] = dot(w[j * nin ...], x) for j < nout (mgc_dot, bias 0),
 * w an operand list of nout * nin weights. 0, or -1 when memory ran out (then nothing
 * was made) */
int mgc_linear(mgc_operands *w, size_t nout, size_t nin, const mgc_id *x, mgc_id *out);
/* dense layers in sequence: layer i maps sizes[i] inputs to sizes[i + 1]
 * outputs, out[j] = act(dot(w_j, x, b_j)), with acts[i] one of MGC_RELU,
 * MGC_TANH, MGC_SIGMOID or MGC_LEAF (linear). params (an operand list) holds, layer
 * after layer, each neuron's weights then its bias (micrograd's parameters() order). The
 * hidden outputs are held only by their parents; the last layer's ids go to
 * out. 0, or -1 when memory ran out (then nothing was made) */
int mgc_mlp(mgc_operands *params, const uint32_t *sizes, const int *acts, size_t layers,
            const mgc_id *x, mgc_id *out);

/* ---------------------------------------------------------------------------
 * lifetimes: a node lives while references to it are held */

void mgc_retain(mgc_id id);
/* drop one reference from each id; 0 entries are ignored */
void mgc_release_many(const mgc_id *ids, size_t count);

/* ---------------------------------------------------------------------------
 * reading and writing a node */

double mgc_data(mgc_id id);
void mgc_set_data(mgc_id id, double data);
double mgc_grad(mgc_id id);
void mgc_set_grad(mgc_id id, double grad);
int mgc_op(mgc_id id);
/* the exponent of a MGC_POW node; *is_int says whether the user gave an int */
double mgc_exponent(mgc_id id, int *is_int);
/* writes up to capacity child ids to out, returns the number of children */
size_t mgc_children(mgc_id id, mgc_id *out, size_t capacity);

/* labels and the _op text of opaque nodes: UTF-8 bytes, copied in and out.
 * set returns 0, or -1 when memory ran out; get returns the full length and
 * copies at most capacity bytes */
int mgc_set_text(mgc_id id, int which, const char *bytes, size_t length);
size_t mgc_text(mgc_id id, int which, char *out, size_t capacity);
enum mgc_text_kind { MGC_TEXT_LABEL = 0, MGC_TEXT_OP = 1 };

/* data given as an int: only how the value prints (mgc_set_data and the
 * optimizers forget it) */
void mgc_set_int_data(mgc_id id, double data);
int mgc_int_data(mgc_id id);
/* the references held on each of count ids, into out */
void mgc_refs(const mgc_id *ids, size_t count, uint32_t *out);

/* ---------------------------------------------------------------------------
 * backward: root grad = 1, then the local rule of every node the root reaches,
 * parents before children, accumulating with +=, in an order fixed by the
 * graph alone (graph.c).
 *
 * A node may have its local rule in Python (micrograd's _backward, marked with
 * mgc_set_py_rule). Backward then pauses there: it returns 1 and a sweep in
 * *paused; each mgc_sweep_next applies the rules in order up to the next such
 * node and returns its id, for the caller to apply that node's rule, or 0 when
 * the pass is over; then mgc_sweep_free. The sweep holds the root, so every
 * node it returns stays alive until it is freed.
 *
 * mgc_backward returns 0 when the pass is over, 1 when it paused, -1 when
 * memory ran out (then no grad changed). */

typedef struct mgc_sweep mgc_sweep;

int mgc_backward(mgc_id root, mgc_sweep **paused);
mgc_id mgc_sweep_next(mgc_sweep *sweep);
void mgc_sweep_free(mgc_sweep *sweep);
/* on = 1: the node's local rule is in Python; on = 0: its own again */
void mgc_set_py_rule(mgc_id id, int on);
/* a node's own local rule, applied once: its grad times its local derivatives
 * added into its children's grads (a leaf, or a node with no rule of its own,
 * adds nothing) */
void mgc_local_backward(mgc_id id);

/* ---------------------------------------------------------------------------
 * tapes: the graph reachable from outputs frozen into a program (tape.c) */

typedef struct mgc_tape mgc_tape;

/* outputs[0] is the loss that runs backpropagate; inputs are leaves whose
 * values each run supplies. NULL when memory ran out. */
mgc_tape *mgc_tape_build(const mgc_id *outputs, size_t output_count, const mgc_id *inputs,
                         size_t input_count);
/* forward with inputs[0..input_count), backward from the loss, the live
 * leaves' grads added into the arena; the outputs' values into outputs. 0; or
 * 1 when a select's index was not a row (then forward ran, with NaN there, and
 * no grad changed) */
int mgc_tape_run(mgc_tape *tape, const double *inputs, double *outputs);
size_t mgc_tape_slots(const mgc_tape *tape);
/* nodes the tape cannot replay: made in Python with children (their forward
 * is Python's), or with a rule in Python */
size_t mgc_tape_python_ops(const mgc_tape *tape);
/* dense blocks: one layer applied to several rows, each row run as one kernel */
size_t mgc_tape_dense_blocks(const mgc_tape *tape);
/* threads for the dense blocks' kernels, 1 = the caller's alone. Each output is
 * computed by one thread in its fixed order, so a run gives the same bits for any
 * number; a tape used in a fork's child runs there on the caller alone. 0, or -1
 * when the threads could not be started (then the tape keeps its old ones) */
int mgc_tape_set_threads(mgc_tape *tape, size_t threads);
void mgc_tape_free(mgc_tape *tape);

/* ---------------------------------------------------------------------------
 * optimizers over arrays of parameter ids (torch.optim's arithmetic); the
 * caller keeps the state arrays, count entries each, zeroed for a parameter
 * new to the optimizer. steps[i] counts the steps parameter i has taken, and
 * each call adds one: a parameter's first step starts its momentum buffer, and
 * Adam's bias corrections follow its own count, as torch keeps them */

void mgc_zero_grad(const mgc_id *ids, size_t count);
/* The steps go by runs: parameters at one step count whose ids are consecutive
 * within one chunk of the arena, so that a run's values and grads are arrays.
 * mgc_param_runs writes the length of each run to runs (room for count) and
 * returns how many there are; they stay runs for as long as the same
 * parameters step together, so a caller splits them once per parameter list */
size_t mgc_param_runs(const mgc_id *ids, const uint64_t *steps, size_t count, uint32_t *runs);
/* mgc_zero_grad over runs that mgc_param_runs found */
void mgc_zero_grad_runs(const mgc_id *ids, const uint32_t *runs, size_t run_count);
/* velocity is used only when momentum is not 0 */
void mgc_sgd_step(const mgc_id *ids, const uint32_t *runs, size_t run_count, double lr,
                  double momentum, double weight_decay, double *velocity, uint64_t *steps);
void mgc_adam_step(const mgc_id *ids, const uint32_t *runs, size_t run_count, double lr,
                   double beta1, double beta2, double eps, double weight_decay, double *m,
                   double *v, uint64_t *steps);

/* ---------------------------------------------------------------------------
 * statistics */

size_t mgc_live_nodes(void);

/* ---------------------------------------------------------------------------
 * Python: makes microgradc._core.Facade, the C base of Value (facade.c).
 * 0, or -1 if it could not */

int mgc_py_setup(void);
/* bytes held by the core: nodes up to the high-water mark, the chunk table,
 * free bits, edge arrays, texts */
size_t mgc_bytes(void);
size_t mgc_node_bytes(void);

#endif
