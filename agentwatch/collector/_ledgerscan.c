/* The alert ledger's second fold pass, compiled: Ledger._apply (ledger.py), giving exactly what
   its Python loop gives.

   apply adds each group of a fold (what Ledger._group summed) to its agent's and model's open
   intervals, the fleet's, and the fleet's and agent's breakdowns by dimension; each latency's sketch
   key into the fleet's, agent's and model's sketches.  The ledger's slotted objects (ScopeSeries,
   Stats, LatencySketch) are read and written at their slot offsets.

   Groups the pass is not sure to handle exactly as Python would (a value of an unexpected type, a
   count beyond +-2**50, a subclass where a ledger type is expected) are left alone: it returns None
   before changing anything, and the caller runs its Python loop.  Float sums are added in the Python
   loop's order, so they are bit-identical to its.  Rows of the breakdown not there yet, error types
   and the sketches' zero bucket go through the Python functions the loop calls.  Built where a C
   compiler is found at install (an optional extension). */

#include "_slots.h"
#include <math.h>

#define COUNT_LIMIT (1LL << 50)
#define GROUP_SIZE 10

/* --------------------------------------------------------------------------- set up once */
static PyTypeObject *series_type = NULL, *stats_type = NULL, *sketch_type = NULL;
static Py_ssize_t off_r_open, off_r_last_seen, off_r_events_total;
static Py_ssize_t off_s_events, off_s_errors, off_s_inferences, off_s_cost, off_s_cost_sq, off_s_calls_ok,
    off_s_tokens_out, off_s_latency, off_s_dims;
static Py_ssize_t off_k_counts, off_k_count, off_k_sum, off_k_zero_count;
static double lowest, inv_log_gamma;
static PyObject *dim_fn = NULL, *error_type_fn = NULL, *s_decision = NULL, *s_model = NULL, *s_tool = NULL,
                *s_error_type = NULL, *s_none = NULL, *s_add = NULL;

typedef struct {
    const char *name;
    Py_ssize_t *offset;
} SlotName;

static int
offsets_of(PyTypeObject *type, const SlotName *names)
{
    for (; names->name != NULL; names++) {
        if (member_offset(type, names->name, names->offset))
            return -1;
    }
    return 0;
}

static void
keep(PyObject **slot, PyObject *value)
{
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
}

PyDoc_STRVAR(setup_doc, "setup(ScopeSeries, Stats, LatencySketch, dim, error_type, min_value, inv_log_gamma, "
                        "decision, model, tool, error_type_dimension, none)\n--\n\n"
                        "Learn the slot layouts of the ledger's types, the functions its pass calls and its "
                        "constants.");

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *se, *st, *sk, *dim, *error_type, *decision, *model, *tool, *error_dim, *none;
    double lo, inv;
    if (!PyArg_ParseTuple(args, "O!O!O!OOddUUUUU", &PyType_Type, &se, &PyType_Type, &st, &PyType_Type, &sk, &dim,
                          &error_type, &lo, &inv, &decision, &model, &tool, &error_dim, &none))
        return NULL;
    const SlotName series_slots[] = {
        {"open", &off_r_open}, {"last_seen", &off_r_last_seen}, {"events_total", &off_r_events_total}, {NULL, NULL},
    };
    const SlotName stats_slots[] = {
        {"events", &off_s_events},     {"errors", &off_s_errors},         {"inferences", &off_s_inferences},
        {"cost", &off_s_cost},         {"cost_sq", &off_s_cost_sq},       {"calls_ok", &off_s_calls_ok},
        {"tokens_out", &off_s_tokens_out}, {"latency", &off_s_latency}, {"dims", &off_s_dims},
        {NULL, NULL},
    };
    const SlotName sketch_slots[] = {
        {"counts", &off_k_counts}, {"count", &off_k_count}, {"sum", &off_k_sum},
        {"zero_count", &off_k_zero_count}, {NULL, NULL},
    };
    if (offsets_of((PyTypeObject *)se, series_slots) || offsets_of((PyTypeObject *)st, stats_slots) ||
        offsets_of((PyTypeObject *)sk, sketch_slots))
        return NULL;
    if (!PyCallable_Check(dim) || !PyCallable_Check(error_type)) {
        PyErr_SetString(PyExc_TypeError, "dim and error_type must be callable");
        return NULL;
    }
    PyObject *add = PyUnicode_InternFromString("add");
    if (add == NULL)
        return NULL;
    Py_XSETREF(s_add, add);
    keep(&dim_fn, dim);
    keep(&error_type_fn, error_type);
    keep(&s_decision, decision);
    keep(&s_model, model);
    keep(&s_tool, tool);
    keep(&s_error_type, error_dim);
    keep(&s_none, none);
    keep((PyObject **)&series_type, se);
    keep((PyObject **)&stats_type, st);
    keep((PyObject **)&sketch_type, sk);
    lowest = lo;
    inv_log_gamma = inv;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------- arithmetic */
/* ``value + x`` as Python computes it: a float's sum directly, anything else through the number protocol. */
static PyObject *
plus(PyObject *value, double x)
{
    if (PyFloat_CheckExact(value))
        return PyFloat_FromDouble(PyFloat_AS_DOUBLE(value) + x);
    PyObject *term = PyFloat_FromDouble(x);
    if (term == NULL)
        return NULL;
    PyObject *sum = PyNumber_Add(value, term);
    Py_DECREF(term);
    return sum;
}

/* ``value + n`` for an int ``n``, as Python computes it. */
static PyObject *
plus_int(PyObject *value, long long n)
{
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred()) && v < COUNT_LIMIT && v > -COUNT_LIMIT)
            return PyLong_FromLongLong(v + n);
        PyErr_Clear();
    }
    PyObject *term = PyLong_FromLongLong(n);
    if (term == NULL)
        return NULL;
    PyObject *sum = PyNumber_Add(value, term);
    Py_DECREF(term);
    return sum;
}

/* obj.<slot at off> += x (a float term). */
static int
slot_add(PyObject *obj, Py_ssize_t off, double x)
{
    PyObject *old = SLOT(obj, off);
    if (old == NULL) {
        PyErr_SetString(PyExc_AttributeError, "ledger slot not set");
        return -1;
    }
    PyObject *sum = plus(old, x);
    if (sum == NULL)
        return -1;
    SLOT(obj, off) = sum;
    Py_DECREF(old);
    return 0;
}

static int
slot_add_int(PyObject *obj, Py_ssize_t off, long long n)
{
    PyObject *old = SLOT(obj, off);
    if (old == NULL) {
        PyErr_SetString(PyExc_AttributeError, "ledger slot not set");
        return -1;
    }
    PyObject *sum = plus_int(old, n);
    if (sum == NULL)
        return -1;
    SLOT(obj, off) = sum;
    Py_DECREF(old);
    return 0;
}

static int
slot_set_double(PyObject *obj, Py_ssize_t off, double x)
{
    PyObject *value = PyFloat_FromDouble(x);
    if (value == NULL)
        return -1;
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = value;
    Py_XDECREF(old);
    return 0;
}

/* row[i] += x for a row of the breakdown (a list of at least 4). */
static int
row_add(PyObject *row, Py_ssize_t i, double x)
{
    PyObject *sum = plus(PyList_GET_ITEM(row, i), x);
    if (sum == NULL)
        return -1;
    PyList_SetItem(row, i, sum); /* steals sum, releases the old value */
    return 0;
}

/* ------------------------------------------------------------------------------- checks */
static int
small_int(PyObject *value, long long *out)
{
    if (!PyLong_CheckExact(value))
        return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v >= COUNT_LIMIT || v <= -COUNT_LIMIT)
        return 0;
    *out = v;
    return 1;
}

static inline int
str_or_none(PyObject *value)
{
    return value == Py_None || PyUnicode_CheckExact(value);
}

/* A series the pass can write: exactly a ScopeSeries whose open interval is exactly a Stats with a
   LatencySketch, a dict of dims and a dict of counts. */
static int
writable_series(PyObject *series)
{
    if (Py_TYPE(series) != series_type)
        return 0;
    PyObject *open = SLOT(series, off_r_open);
    if (open == NULL || Py_TYPE(open) != stats_type || SLOT(series, off_r_last_seen) == NULL ||
        SLOT(series, off_r_events_total) == NULL)
        return 0;
    const Py_ssize_t sums[7] = {off_s_events,  off_s_errors,   off_s_inferences, off_s_cost,
                                off_s_cost_sq, off_s_calls_ok, off_s_tokens_out};
    for (int i = 0; i < 7; i++) {
        if (SLOT(open, sums[i]) == NULL)
            return 0;
    }
    PyObject *sketch = SLOT(open, off_s_latency), *dims = SLOT(open, off_s_dims);
    if (sketch == NULL || Py_TYPE(sketch) != sketch_type || dims == NULL || !PyDict_CheckExact(dims))
        return 0;
    PyObject *counts = SLOT(sketch, off_k_counts);
    return counts != NULL && PyDict_CheckExact(counts) && SLOT(sketch, off_k_count) != NULL &&
           SLOT(sketch, off_k_sum) != NULL && SLOT(sketch, off_k_zero_count) != NULL;
}

/* Whether every group is one the pass handles exactly as the Python loop. */
static int
groups_fit(PyObject *groups)
{
    Py_ssize_t pos = 0;
    PyObject *key, *group;
    long long n;
    while (PyDict_Next(groups, &pos, &key, &group)) {
        if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 6 || !PyList_CheckExact(group) ||
            PyList_GET_SIZE(group) != GROUP_SIZE)
            return 0;
        PyObject **g = ((PyListObject *)group)->ob_item;
        for (int i = 1; i < 6; i++) {
            if (!str_or_none(PyTuple_GET_ITEM(key, i)))
                return 0;
        }
        if (!small_int(g[0], &n) || !small_int(g[1], &n) || !PyFloat_CheckExact(g[2]) ||
            !PyFloat_CheckExact(g[3]) || !small_int(g[4], &n) || !small_int(g[5], &n) || !PyBool_Check(g[9]))
            return 0;
        if (g[6] != Py_None) {
            if (!PyList_CheckExact(g[6]))
                return 0;
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(g[6]); i++) {
                PyObject *latency = PyList_GET_ITEM(g[6], i);
                if (!PyFloat_CheckExact(latency) || !(PyFloat_AS_DOUBLE(latency) >= 0.0))
                    return 0;
            }
        }
        if ((g[7] != Py_None && !writable_series(g[7])) || (g[8] != Py_None && !writable_series(g[8])))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------------- the pass */
/* The row of ``stats``'s breakdown for (dimension, value), new rows through dim(); a new reference. */
static PyObject *
row_of(PyObject *stats, PyObject *dims, PyObject *dimension, PyObject *value)
{
    PyObject *pair = PyTuple_Pack(2, dimension, value);
    if (pair == NULL)
        return NULL;
    PyObject *row = PyDict_GetItemWithError(dims, pair);
    Py_DECREF(pair);
    if (row != NULL && PyObject_IsTrue(row) == 1) {
        Py_INCREF(row);
    } else {
        if (PyErr_Occurred())
            return NULL;
        row = PyObject_CallFunctionObjArgs(dim_fn, stats, dimension, value, NULL);
        if (row == NULL)
            return NULL;
    }
    if (!PyList_CheckExact(row) || PyList_GET_SIZE(row) < 4) {
        Py_DECREF(row);
        PyErr_SetString(PyExc_TypeError, "a row of the breakdown must be a list of 4");
        return NULL;
    }
    return row;
}

/* Add (events, errors[, cost, inferences]) to a row; ``cost_row``: also the last two. */
static int
add_to_row(PyObject *row, double weighted, int is_error, int cost_row, double cost_w, double inferences_w)
{
    int failed = row == NULL || row_add(row, 0, weighted) || (is_error && row_add(row, 1, weighted)) ||
                 (cost_row && (row_add(row, 2, cost_w) || row_add(row, 3, inferences_w)));
    Py_XDECREF(row);
    return failed ? -1 : 0;
}

/* A scope's series: last seen, events and its open interval's sums. */
static int
add_to_series(PyObject *series, PyObject *now, double weighted, int is_error, long long inferences, double inferences_w,
              double cost_w, double cost_sq_w, long long calls_ok, double calls_w, double tokens_w)
{
    PyObject *old = SLOT(series, off_r_last_seen);
    Py_INCREF(now);
    SLOT(series, off_r_last_seen) = now;
    Py_DECREF(old);
    PyObject *s = SLOT(series, off_r_open);
    if (slot_add(series, off_r_events_total, weighted) || slot_add(s, off_s_events, weighted))
        return -1;
    if (is_error && slot_add(s, off_s_errors, weighted))
        return -1;
    if (inferences && (slot_add(s, off_s_inferences, inferences_w) || slot_add(s, off_s_cost, cost_w) ||
                       slot_add(s, off_s_cost_sq, cost_sq_w)))
        return -1;
    if (calls_ok && (slot_add(s, off_s_calls_ok, calls_w) || slot_add(s, off_s_tokens_out, tokens_w)))
        return -1;
    return 0;
}

/* counts[key] = counts.get(key, 0) + 1 */
static int
count_key(PyObject *counts, PyObject *key)
{
    PyObject *old = PyDict_GetItemWithError(counts, key);
    PyObject *value;
    if (old == NULL) {
        if (PyErr_Occurred())
            return -1;
        value = PyLong_FromLong(1);
    } else {
        value = plus_int(old, 1);
    }
    if (value == NULL)
        return -1;
    int failed = PyDict_SetItem(counts, key, value);
    Py_DECREF(value);
    return failed;
}

PyDoc_STRVAR(apply_doc, "apply(groups, fleet, now, w)\n--\n\n"
                        "Ledger._apply: each group's sums into its scopes, weighted by w; True, or None "
                        "(nothing changed) for groups the Python loop must take.");

static PyObject *
apply(PyObject *module, PyObject *args)
{
    PyObject *groups, *fleet, *now;
    double w;
    if (!PyArg_ParseTuple(args, "O!OOd", &PyDict_Type, &groups, &fleet, &now, &w))
        return NULL;
    if (series_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    if (!PyFloat_CheckExact(now) || !writable_series(fleet) || !groups_fit(groups))
        Py_RETURN_NONE;
    if (PyDict_GET_SIZE(groups) == 0)
        Py_RETURN_TRUE;
    PyObject *fs = SLOT(fleet, off_r_open);
    PyObject *f_sketch = SLOT(fs, off_s_latency);
    PyObject *f_counts = SLOT(f_sketch, off_k_counts);
    PyObject *f_sum_obj = SLOT(f_sketch, off_k_sum);
    if (!PyFloat_CheckExact(f_sum_obj))
        Py_RETURN_NONE; /* checked before anything changes, as the groups were */
    double f_sum = PyFloat_AS_DOUBLE(f_sum_obj);
    long long f_count = 0, f_zero = 0;
    double f_events = 0.0, f_errors = 0.0, f_inferences = 0.0, f_cost = 0.0, f_cost_sq = 0.0, f_calls = 0.0,
           f_tokens = 0.0;
    double inferences_w = 0.0, cost_w = 0.0, cost_sq_w = 0.0, calls_w = 0.0, tokens_w = 0.0;
    Py_ssize_t pos = 0;
    PyObject *key, *group;
    while (PyDict_Next(groups, &pos, &key, &group)) {
        PyObject **g = ((PyListObject *)group)->ob_item;
        PyObject *model = PyTuple_GET_ITEM(key, 1), *error = PyTuple_GET_ITEM(key, 3),
                 *tool = PyTuple_GET_ITEM(key, 4), *path = PyTuple_GET_ITEM(key, 5);
        long long n = PyLong_AsLongLong(g[0]), inferences = PyLong_AsLongLong(g[1]),
                  calls_ok = PyLong_AsLongLong(g[4]), tokens_out = PyLong_AsLongLong(g[5]);
        double cost = PyFloat_AS_DOUBLE(g[2]), cost_sq = PyFloat_AS_DOUBLE(g[3]);
        PyObject *latencies = g[6], *agent = g[7], *model_series = g[8];
        int is_error = g[9] == Py_True;
        double weighted = (double)n * w;
        f_events += weighted;
        if (is_error)
            f_errors += weighted;
        if (inferences) {
            inferences_w = (double)inferences * w;
            cost_w = cost * w;
            cost_sq_w = cost_sq * w;
            f_inferences += inferences_w;
            f_cost += cost_w;
            f_cost_sq += cost_sq_w;
        }
        if (calls_ok) {
            calls_w = (double)calls_ok * w;
            tokens_w = (double)tokens_out * w;
            f_calls += calls_w;
            f_tokens += tokens_w;
        }
        PyObject *scoped[2];
        int n_scoped = 0;
        if (agent != Py_None) {
            if (add_to_series(agent, now, weighted, is_error, inferences, inferences_w, cost_w, cost_sq_w, calls_ok,
                              calls_w, tokens_w))
                return NULL;
            scoped[n_scoped++] = SLOT(SLOT(agent, off_r_open), off_s_latency);
        }
        if (model_series != Py_None) {
            if (add_to_series(model_series, now, weighted, is_error, inferences, inferences_w, cost_w, cost_sq_w,
                              calls_ok, calls_w, tokens_w))
                return NULL;
            scoped[n_scoped++] = SLOT(SLOT(model_series, off_r_open), off_s_latency);
        }
        if (latencies != Py_None) {
            for (Py_ssize_t i = 0; i < PyList_GET_SIZE(latencies); i++) {
                PyObject *item = PyList_GET_ITEM(latencies, i);
                double latency = PyFloat_AS_DOUBLE(item);
                if (latency > lowest) {
                    PyObject *bucket = PyLong_FromDouble(ceil(log(latency) * inv_log_gamma));
                    if (bucket == NULL || count_key(f_counts, bucket)) {
                        Py_XDECREF(bucket);
                        return NULL;
                    }
                    f_count += 1;
                    f_sum += latency;
                    for (int k = 0; k < n_scoped; k++) {
                        PyObject *sketch = scoped[k];
                        if (count_key(SLOT(sketch, off_k_counts), bucket) || slot_add_int(sketch, off_k_count, 1) ||
                            slot_add(sketch, off_k_sum, latency)) {
                            Py_DECREF(bucket);
                            return NULL;
                        }
                    }
                    Py_DECREF(bucket);
                } else {
                    f_zero += 1;
                    f_count += 1;
                    f_sum += latency;
                    for (int k = 0; k < n_scoped; k++) {
                        PyObject *done = PyObject_CallMethodOneArg(scoped[k], s_add, item);
                        if (done == NULL)
                            return NULL;
                        Py_DECREF(done);
                    }
                }
            }
        }
        /* The breakdown by dimension, fleet's and agent's. */
        PyObject *decision_value = PyUnicode_CheckExact(path) && PyUnicode_GET_LENGTH(path) ? path : s_none;
        PyObject *kind = NULL;
        if (is_error) {
            kind = PyObject_CallOneArg(error_type_fn, error);
            if (kind == NULL)
                return NULL;
        }
        int has_model = model != Py_None && PyUnicode_GET_LENGTH(model) > 0;
        int has_tool = tool != Py_None && PyUnicode_GET_LENGTH(tool) > 0;
        PyObject *targets[2] = {fs, agent != Py_None ? SLOT(agent, off_r_open) : NULL};
        for (int t = 0; t < 2 && targets[t] != NULL; t++) {
            PyObject *s = targets[t], *dims = SLOT(s, off_s_dims);
            if (add_to_row(row_of(s, dims, s_decision, decision_value), weighted, is_error, 0, 0.0, 0.0) ||
                (has_model &&
                 add_to_row(row_of(s, dims, s_model, model), weighted, is_error, inferences != 0, cost_w, inferences_w)) ||
                (has_tool && add_to_row(row_of(s, dims, s_tool, tool), weighted, is_error, 0, 0.0, 0.0)) ||
                (is_error && add_to_row(row_of(s, dims, s_error_type, kind), weighted, 1, 0, 0.0, 0.0))) {
                Py_XDECREF(kind);
                return NULL;
            }
        }
        Py_XDECREF(kind);
    }
    PyObject *old = SLOT(fleet, off_r_last_seen);
    Py_INCREF(now);
    SLOT(fleet, off_r_last_seen) = now;
    Py_DECREF(old);
    if (slot_add(fleet, off_r_events_total, f_events) || slot_add(fs, off_s_events, f_events) ||
        slot_add(fs, off_s_errors, f_errors) || slot_add(fs, off_s_inferences, f_inferences) ||
        slot_add(fs, off_s_cost, f_cost) || slot_add(fs, off_s_cost_sq, f_cost_sq) ||
        slot_add(fs, off_s_calls_ok, f_calls) || slot_add(fs, off_s_tokens_out, f_tokens) ||
        slot_add_int(f_sketch, off_k_count, f_count) || slot_add_int(f_sketch, off_k_zero_count, f_zero) ||
        slot_set_double(f_sketch, off_k_sum, f_sum))
        return NULL;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, setup_doc},
    {"apply", apply, METH_VARARGS, apply_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ledgerscan", "The alert ledger's fold pass, compiled (see ledger.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__ledgerscan(void)
{
    return PyModule_Create(&module_def);
}
