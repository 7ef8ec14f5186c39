/*
 * facade.c: the C base of Python's Value, microgradc._core.Facade.
 *
 * A Value is a facade over one node: it holds the node's id and one reference
 * to it. Making and dropping a facade is the fixed cost of every op from
 * Python, so that part is here: Facade._take(id) makes a facade that takes
 * over the reference a C constructor returned, and a dying facade releases
 * its node in its own deallocator, with no Python frame. A node has at most
 * one facade at a time, which Facade._get finds. Everything else
 * about a Value (its ops, data, grad, _prev, ...) is Python, in engine.py.
 *
 * The only file of csrc/ that knows Python. It runs with the GIL held (the
 * cffi wrappers keep it, see build.py) and takes the core's lock like every
 * other entry point.
 */
#define Py_LIMITED_API 0x030A0000
#include <Python.h>
#include <structmember.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    PyObject_HEAD
    PyObject *id;                /* the node's id as a Python int (read without a new
                                    object); NULL until the facade has a node */
    mgc_id node;                 /* the same id, for C */
} facade;

/* ----------------------------------------------------------------------------
 * which facade is a node's: one at a time, so that micrograd's code that walks
 * _prev, or names nodes by id(), meets the very Value it holds. A borrowed
 * pointer by node id, cleared when that facade dies; read and written with the
 * GIL held, which is all the lock it needs */

static PyObject ***facade_chunks;  /* chunk i: the facades of ids i << 16 ..., or NULL */
static uint32_t facade_chunk_count;

size_t mgc__facade_bytes(void) {
    size_t bytes = facade_chunk_count * sizeof(PyObject **);
    for (uint32_t i = 0; i < facade_chunk_count; i++)
        if (facade_chunks[i]) bytes += MGC_CHUNK_NODES * sizeof(PyObject *);
    return bytes;
}

/* where the node's facade is noted; NULL if there is no room (make: try to make it) */
static PyObject **facade_slot(mgc_id node, int make) {
    uint32_t chunk = node >> MGC_CHUNK_BITS;
    if (chunk >= facade_chunk_count) {
        if (!make) return NULL;
        PyObject ***bigger = realloc(facade_chunks, (chunk + 1) * sizeof(PyObject **));
        if (!bigger) return NULL;
        memset(bigger + facade_chunk_count, 0,
               (chunk + 1 - facade_chunk_count) * sizeof(PyObject **));
        facade_chunks = bigger;
        facade_chunk_count = chunk + 1;
    }
    if (!facade_chunks[chunk]) {
        if (!make) return NULL;
        facade_chunks[chunk] = calloc(MGC_CHUNK_NODES, sizeof(PyObject *));
        if (!facade_chunks[chunk]) return NULL;
    }
    return &facade_chunks[chunk][node & (MGC_CHUNK_NODES - 1)];
}

/* the node's facade is now self, unless it has one (no room: it stays without) */
static void set_facade(mgc_id node, PyObject *self) {
    PyObject **slot = facade_slot(node, 1);
    if (slot && !*slot) *slot = self;
}

static void facade_dealloc(PyObject *self) {
    facade *f = (facade *)self;
    PyTypeObject *type = Py_TYPE(self);
    PyObject **slot = f->node ? facade_slot(f->node, 0) : NULL;
    if (slot && *slot == self) *slot = NULL;
    if (f->node) {
        mgc__lock();
        mgc__release(f->node);
        mgc__unlock();
    }
    Py_XDECREF(f->id);
    freefunc free_self = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_self(self);
    Py_DECREF(type);  /* an instance of a heap type holds a reference to it */
}

/* takes over the reference that node already holds: on success the facade
 * owns it, on failure it is released. 0 or -1 */
static int adopt(facade *f, PyObject *id) {
    unsigned long node = PyLong_AsUnsignedLong(id);
    if (node == (unsigned long)-1 && PyErr_Occurred()) return -1;
    if (node == 0 || node > MGC_MAX_NODES) {
        if (node == 0) PyErr_SetString(PyExc_MemoryError, "microgradc: out of memory for a new node");
        else PyErr_SetString(PyExc_ValueError, "not a node id");
        return -1;
    }
    Py_INCREF(id);
    f->id = id;
    f->node = (mgc_id)node;
    set_facade(f->node, (PyObject *)f);
    return 0;
}

/* Facade._take(id): a new facade of cls taking over id's reference (0: out of memory) */
static PyObject *facade_take(PyObject *cls, PyObject *id) {
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)cls, Py_tp_alloc);
    PyObject *self = alloc((PyTypeObject *)cls, 0);
    if (!self || adopt((facade *)self, id)) {
        unsigned long node = PyLong_AsUnsignedLong(id);
        if (!self && node && node <= MGC_MAX_NODES) {  /* nobody took it: let it go */
            mgc__lock();
            mgc__release((mgc_id)node);
            mgc__unlock();
        }
        Py_XDECREF(self);
        return NULL;
    }
    return self;
}

/* Facade._get(id): the live node's facade, or a new one holding a reference of its own */
static PyObject *facade_get(PyObject *cls, PyObject *id) {
    unsigned long node = PyLong_AsUnsignedLong(id);
    if (node == (unsigned long)-1 && PyErr_Occurred()) return NULL;
    if (node == 0 || node > MGC_MAX_NODES) {
        PyErr_SetString(PyExc_ValueError, "not a node id");
        return NULL;
    }
    PyObject **slot = facade_slot((mgc_id)node, 0);
    if (slot && *slot) {
        Py_INCREF(*slot);
        return *slot;
    }
    mgc__lock();
    mgc__node((mgc_id)node)->refs++;
    mgc__unlock();
    return facade_take(cls, id);
}

/* self._adopt(id): Value.__init__ gives its facade the node it made, once */
static PyObject *facade_adopt(PyObject *self, PyObject *id) {
    facade *f = (facade *)self;
    if (f->id) {
        PyErr_SetString(PyExc_TypeError, "a Value is initialised once: make a new Value instead");
        return NULL;
    }
    if (adopt(f, id)) return NULL;
    Py_RETURN_NONE;
}

static PyTypeObject *facade_type;  /* Facade, once mgc_py_setup made it */

/* Facade._ids(items): the node ids of the items of a list, packed in bytes as an
 * mgc_id[] (one C pass, where reading v._id a Value at a time costs a Python
 * call each), or None if one item is not a facade with a node */
static PyObject *facade_ids(PyObject *cls, PyObject *items) {
    (void)cls;
    Py_ssize_t count = PyList_Size(items);
    if (count < 0) return NULL;
    PyObject *packed = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(mgc_id));
    if (!packed) return NULL;
    mgc_id *ids = (mgc_id *)PyBytes_AsString(packed);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GetItem(items, i);  /* borrowed */
        if (!PyObject_TypeCheck(item, facade_type) || !((facade *)item)->node) {
            Py_DECREF(packed);
            Py_RETURN_NONE;
        }
        ids[i] = ((facade *)item)->node;
    }
    return packed;
}

/* Facade._take_all(packed): a list of new facades of cls, each taking over the
 * reference of one id of packed (an mgc_id[] in bytes, as C constructors return
 * them); if one cannot be made, every id is let go. The cyclic collector is
 * paused meanwhile: tens of thousands of new facades (a minibatch's inputs) would
 * set off dozens of collections that cannot free them, and the loop holds the GIL
 * and runs no Python code, so no other thread sees the pause */
static PyObject *facade_take_all(PyObject *cls, PyObject *packed) {
    char *bytes = PyBytes_AsString(packed);
    if (!bytes) return NULL;
    Py_ssize_t count = PyBytes_Size(packed) / (Py_ssize_t)sizeof(mgc_id), made = 0;
    const mgc_id *ids = (const mgc_id *)bytes;
    int collecting = PyGC_Disable();
    PyObject *list = PyList_New(count);
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)cls, Py_tp_alloc);
    for (; list && made < count; made++) {
        PyObject *f = alloc((PyTypeObject *)cls, 0);
        PyObject *id = f ? PyLong_FromUnsignedLong(ids[made]) : NULL;
        int adopted = id && adopt((facade *)f, id) == 0;  /* 0 raises MemoryError */
        Py_XDECREF(id);  /* the facade holds it now, or nothing does */
        if (!adopted) {
            Py_XDECREF(f);
            break;
        }
        PyList_SetItem(list, made, f);  /* steals f */
    }
    if (collecting) PyGC_Enable();
    if (list && made == count) return list;
    mgc__lock();  /* the ids no facade took over */
    for (Py_ssize_t i = made; i < count; i++)
        if (ids[i]) mgc__release(ids[i]);
    mgc__unlock();
    Py_XDECREF(list);  /* and those made let theirs go */
    return NULL;
}

static PyMethodDef facade_methods[] = {
    {"_ids", facade_ids, METH_O | METH_CLASS,
     "The node ids of a list of Values packed as an mgc_id[] in bytes, or None if one is "
     "not a Value."},
    {"_take_all", facade_take_all, METH_O | METH_CLASS,
     "New Values taking over the references of the ids packed in bytes, as a list."},
    {"_take", facade_take, METH_O | METH_CLASS,
     "A new Value taking over the reference a C constructor returned (0: MemoryError)."},
    {"_get", facade_get, METH_O | METH_CLASS,
     "The facade of a live node: the one that exists, or a new one with its own reference."},
    {"_adopt", facade_adopt, METH_O,
     "Give a new Value its node, taking over the reference (0: MemoryError)."},
    {NULL, NULL, 0, NULL},
};

/* a read-only member: Python's attribute cache reads it as fast as a slot */
static PyMemberDef facade_members[] = {
    {"_id", T_OBJECT_EX, offsetof(facade, id), READONLY, "the node's id in the C core"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot facade_slots[] = {
    {Py_tp_dealloc, facade_dealloc},
    {Py_tp_methods, facade_methods},
    {Py_tp_members, facade_members},
    {Py_tp_doc, "The C base of microgradc's Value: a node id and the reference it holds."},
    {0, NULL},
};

static PyType_Spec facade_spec = {
    .name = "microgradc._core.Facade",
    .basicsize = sizeof(facade),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = facade_slots,
};

int mgc_py_setup(void) {
    PyGILState_STATE gil = PyGILState_Ensure();
    int status = -1;
    PyObject *module = PyImport_AddModule("microgradc._core");  /* borrowed */
    PyObject *type = module ? PyType_FromSpec(&facade_spec) : NULL;
    if (type) status = PyObject_SetAttrString(module, "Facade", type);
    if (status == 0) facade_type = (PyTypeObject *)type;  /* the module holds it */
    Py_XDECREF(type);
    if (status) PyErr_Clear();
    PyGILState_Release(gil);
    return status;
}
