/* The alert ledger's fold, compiled: Ledger._group_events (group), Ledger._apply (apply) and
   Ledger._credit_paths (credit_paths) of ledger.py, each giving exactly what its Python loop gives.

   group walks a fold's events in order: each event's agent and model series (from the fold's caches),
   its trace (touched, or new through the ledger's _new_trace, which evicts past MAX_TRACES), its
   decision (one made before counted here, a new one through _decide) and its group's sums.  apply
   adds each group to its agent's and model's open intervals, the fleet's, and the fleet's and agent's
   breakdowns by dimension; each latency's sketch key into the fleet's, agent's and model's sketches.
   credit_paths adds the fold's cost per decision path to the fleet's and agents' breakdowns.  Events
   and the ledger's slotted objects (Event, ScopeSeries, Stats, LatencySketch, Trace, DecisionStat)
   are read and written at their slot offsets.

   Input a pass is not sure to handle exactly as Python would (a value of an unexpected type, a count
   beyond +-2**50, a subclass where a ledger type is expected) is left alone: it returns None before
   changing anything, and the caller runs its Python loop.  Float sums are added in the Python loop's
   order, so they are bit-identical to its.  What is rare or holds the ledger's rules (a scope not
   cached yet, a new trace, a new decision, a row of the breakdown not there yet, an error's type, the
   sketches' zero bucket) goes through the Python functions the loop calls.  Built where a C compiler
   is found at install (an optional extension). */

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

/* row_of through a cache of the rows already found by value (one dimension of the fleet's breakdown, for
   one pass: its rows stay the same while the pass runs); ``cache`` NULL: none. */
static PyObject *
row_cached(PyObject *cache, PyObject *stats, PyObject *dims, PyObject *dimension, PyObject *value)
{
    if (cache == NULL)
        return row_of(stats, dims, dimension, value);
    PyObject *row = PyDict_GetItemWithError(cache, value);
    if (row != NULL) {
        Py_INCREF(row);
        return row;
    }
    if (PyErr_Occurred())
        return NULL;
    row = row_of(stats, dims, dimension, value);
    if (row != NULL && PyDict_SetItem(cache, value, row)) {
        Py_DECREF(row);
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

static PyObject *apply_groups(PyObject *groups, PyObject *fleet, PyObject *now, double w, PyObject **fleet_rows);

static PyObject *
apply(PyObject *module, PyObject *args)
{
    PyObject *groups, *fleet, *now;
    double w;
    if (!PyArg_ParseTuple(args, "O!OOd", &PyDict_Type, &groups, &fleet, &now, &w))
        return NULL;
    PyObject *fleet_rows[4] = {NULL, NULL, NULL, NULL};
    PyObject *answer = NULL;
    for (int i = 0; i < 4; i++) {
        fleet_rows[i] = PyDict_New();
        if (fleet_rows[i] == NULL)
            goto done;
    }
    answer = apply_groups(groups, fleet, now, w, fleet_rows);
done:
    for (int i = 0; i < 4; i++)
        Py_XDECREF(fleet_rows[i]);
    return answer;
}

/* apply(), with a cache of the fleet's rows by value for each of the four dimensions. */
static PyObject *
apply_groups(PyObject *groups, PyObject *fleet, PyObject *now, double w, PyObject **fleet_rows)
{
    PyObject *no_cache[4] = {NULL, NULL, NULL, NULL};
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
            PyObject **cache = t == 0 ? fleet_rows : no_cache;
            if (add_to_row(row_cached(cache[0], s, dims, s_decision, decision_value), weighted, is_error, 0, 0.0,
                           0.0) ||
                (has_model && add_to_row(row_cached(cache[1], s, dims, s_model, model), weighted, is_error,
                                         inferences != 0, cost_w, inferences_w)) ||
                (has_tool && add_to_row(row_cached(cache[2], s, dims, s_tool, tool), weighted, is_error, 0, 0.0, 0.0)) ||
                (is_error && add_to_row(row_cached(cache[3], s, dims, s_error_type, kind), weighted, 1, 0, 0.0, 0.0))) {
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

/* ------------------------------------------------------------------------- the first pass */
static PyTypeObject *event_type = NULL, *trace_type = NULL, *decision_type = NULL;
static Py_ssize_t off_d_count, off_d_confidence_sum, off_d_confidence_n;
static Py_ssize_t off_e_agent_id, off_e_span_type, off_e_trace_id, off_e_model, off_e_tokens_output,
    off_e_latency_ms, off_e_cost_usd, off_e_decision_made, off_e_confidence, off_e_error, off_e_tool_name;
static Py_ssize_t off_t_cost, off_t_inferences, off_t_last, off_t_path;
static double max_cost, max_latency;
static PyObject *s_llm = NULL, *s_completion = NULL, *s_decision_span = NULL, *s_error_span = NULL,
                *s_no_decision = NULL, *s_arrow = NULL, *s_move_to_end = NULL;
static Py_ssize_t max_path = 256;

PyDoc_STRVAR(setup_group_doc, "setup_group(Event, Trace, DecisionStat, max_cost, max_latency, llm_call, completion, decision, "
                              "error, no_decision, path_join, max_path)\n--\n\n"
                              "Learn the slot layouts and constants of the first pass.");

static PyObject *
setup_group(PyObject *module, PyObject *args)
{
    PyObject *ev, *tr, *ds, *llm, *completion, *decision, *error, *no_decision, *arrow;
    double mcost, mlat;
    Py_ssize_t cut;
    if (!PyArg_ParseTuple(args, "O!O!O!ddUUUUUUn", &PyType_Type, &ev, &PyType_Type, &tr, &PyType_Type, &ds, &mcost,
                          &mlat, &llm,
                          &completion, &decision, &error, &no_decision, &arrow, &cut))
        return NULL;
    const SlotName event_slots[] = {
        {"agent_id", &off_e_agent_id},       {"span_type", &off_e_span_type},   {"trace_id", &off_e_trace_id},
        {"model", &off_e_model},             {"tokens_output", &off_e_tokens_output},
        {"latency_ms", &off_e_latency_ms},   {"cost_usd", &off_e_cost_usd},
        {"decision_made", &off_e_decision_made}, {"confidence", &off_e_confidence}, {"error", &off_e_error},
        {"tool_name", &off_e_tool_name},     {NULL, NULL},
    };
    const SlotName trace_slots[] = {
        {"cost", &off_t_cost}, {"inferences", &off_t_inferences}, {"last", &off_t_last}, {"path", &off_t_path},
        {NULL, NULL},
    };
    const SlotName decision_slots[] = {
        {"count", &off_d_count}, {"confidence_sum", &off_d_confidence_sum}, {"confidence_n", &off_d_confidence_n},
        {NULL, NULL},
    };
    if (offsets_of((PyTypeObject *)ev, event_slots) || offsets_of((PyTypeObject *)tr, trace_slots) ||
        offsets_of((PyTypeObject *)ds, decision_slots))
        return NULL;
    PyObject *move = PyUnicode_InternFromString("move_to_end");
    if (move == NULL)
        return NULL;
    Py_XSETREF(s_move_to_end, move);
    keep(&s_llm, llm);
    keep(&s_completion, completion);
    keep(&s_decision_span, decision);
    keep(&s_error_span, error);
    keep(&s_no_decision, no_decision);
    keep(&s_arrow, arrow);
    keep((PyObject **)&event_type, ev);
    keep((PyObject **)&trace_type, tr);
    keep((PyObject **)&decision_type, ds);
    max_cost = mcost;
    max_latency = mlat;
    max_path = cut;
    Py_RETURN_NONE;
}

static inline int
float_or_none(PyObject *value)
{
    return value == Py_None || PyFloat_CheckExact(value);
}

/* Whether every event is one the pass reads exactly as the Python loop: an exact Event whose fields
   the fold reads are of their declared types (str, float, a small int) or None. */
static int
events_fit(PyObject *events)
{
    long long n;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        if (Py_TYPE(e) != event_type)
            return 0;
        PyObject *agent_id = SLOT(e, off_e_agent_id), *tokens = SLOT(e, off_e_tokens_output);
        const Py_ssize_t strs[] = {off_e_span_type, off_e_trace_id, off_e_model, off_e_decision_made, off_e_error,
                                   off_e_tool_name};
        const Py_ssize_t floats[] = {off_e_latency_ms, off_e_cost_usd};
        if (agent_id == NULL || !PyUnicode_CheckExact(agent_id) || tokens == NULL ||
            (tokens != Py_None && !small_int(tokens, &n)) || SLOT(e, off_e_confidence) == NULL)
            return 0;
        for (int k = 0; k < 6; k++) {
            PyObject *value = SLOT(e, strs[k]);
            if (value == NULL || !str_or_none(value))
                return 0;
        }
        for (int k = 0; k < 2; k++) {
            PyObject *value = SLOT(e, floats[k]);
            if (value == NULL || !float_or_none(value))
                return 0;
        }
    }
    return 1;
}

static inline int
nonempty(PyObject *str_or_none_value)
{
    return str_or_none_value != Py_None && PyUnicode_GET_LENGTH(str_or_none_value) > 0;
}

/* group[i] += n (an int term) / += x (a float term). */
static int
item_add_int(PyObject *list, Py_ssize_t i, long long n)
{
    PyObject *sum = plus_int(PyList_GET_ITEM(list, i), n);
    if (sum == NULL)
        return -1;
    PyList_SetItem(list, i, sum);
    return 0;
}

/* credits[(agent_id, path)] += (cost, inferences), as _add_credit, with objects as terms. */
static int
add_credit(PyObject *credits, PyObject *agent_id, PyObject *path, PyObject *cost, PyObject *inferences)
{
    PyObject *key = PyTuple_Pack(2, agent_id, path);
    if (key == NULL)
        return -1;
    PyObject *row = PyDict_GetItemWithError(credits, key);
    int failed = 0;
    if (row == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
        PyObject *fresh = PyList_New(2);
        if (fresh == NULL) {
            Py_DECREF(key);
            return -1;
        }
        Py_INCREF(cost);
        Py_INCREF(inferences);
        PyList_SET_ITEM(fresh, 0, cost);
        PyList_SET_ITEM(fresh, 1, inferences);
        failed = PyDict_SetItem(credits, key, fresh);
        Py_DECREF(fresh);
    } else {
        PyObject *terms[2] = {cost, inferences};
        for (int i = 0; i < 2 && !failed; i++) {
            PyObject *sum = PyNumber_Add(PyList_GET_ITEM(row, i), terms[i]);
            if (sum == NULL)
                failed = 1;
            else
                PyList_SetItem(row, i, sum);
        }
    }
    Py_DECREF(key);
    return failed ? -1 : 0;
}

/* obj.<slot> = value */
static void
slot_set(PyObject *obj, Py_ssize_t off, PyObject *value)
{
    PyObject *old = SLOT(obj, off);
    Py_INCREF(value);
    SLOT(obj, off) = value;
    Py_XDECREF(old);
}

/* The series of an agent or a model: from its cache, else from lookup(name, now) (None: over the cap). */
static PyObject *
series_for(PyObject *cache, PyObject *lookup, PyObject *name, PyObject *now)
{
    PyObject *series = PyDict_GetItemWithError(cache, name);
    if (series != NULL) {
        Py_INCREF(series);
        return series;
    }
    if (PyErr_Occurred())
        return NULL;
    return PyObject_CallFunctionObjArgs(lookup, name, now, NULL);
}

/* Ledger._decide for an agent with a scope: a decision it made before counted here, any other (a new
   one, the table's cap, an unexpected type) by decide() itself. */
static int
count_decision(PyObject *decisions, PyObject *decisions_made, PyObject *decide, PyObject *agent_id,
               PyObject *decision, PyObject *confidence, double w, PyObject *w_obj, PyObject *now)
{
    PyObject *table = PyDict_GetItemWithError(decisions, agent_id), *stat = NULL, *made = NULL;
    if (table != NULL && PyDict_CheckExact(table))
        stat = PyDict_GetItemWithError(table, decision);
    if (stat != NULL)
        made = PyDict_GetItemWithError(decisions_made, agent_id);
    if (PyErr_Occurred())
        return -1;
    if (stat == NULL || Py_TYPE(stat) != decision_type || (made != NULL && !PyFloat_CheckExact(made)) ||
        (confidence != Py_None && !PyFloat_CheckExact(confidence))) {
        PyObject *done = PyObject_CallFunctionObjArgs(decide, agent_id, decision, confidence, w_obj, now, NULL);
        if (done == NULL)
            return -1;
        Py_DECREF(done);
        return 0;
    }
    double made_before = made == NULL ? 0.0 : PyFloat_AS_DOUBLE(made);
    if (slot_add(stat, off_d_count, w))
        return -1;
    if (confidence != Py_None) {
        double c = PyFloat_AS_DOUBLE(confidence);
        if (0.0 <= c && c <= 1.0 && (slot_add(stat, off_d_confidence_sum, c * w) || slot_add(stat, off_d_confidence_n, w)))
            return -1;
    }
    PyObject *total = PyFloat_FromDouble(made_before + w);
    if (total == NULL)
        return -1;
    int failed = PyDict_SetItem(decisions_made, agent_id, total);
    Py_DECREF(total);
    return failed;
}

/* One event's order-dependent work and its group's sums; 0, or -1 with an exception. */
static int
group_one(PyObject *e, PyObject *groups, PyObject *credits, PyObject *agents, PyObject *models, PyObject *traces,
          PyObject *now, double w, PyObject *w_obj, PyObject *lookup_agent, PyObject *lookup_model,
          PyObject *new_trace, PyObject *decide, PyObject *decisions, PyObject *decisions_made, PyObject *move_to_end)
{
    PyObject *agent_id = SLOT(e, off_e_agent_id), *model = SLOT(e, off_e_model), *span = SLOT(e, off_e_span_type),
             *error = SLOT(e, off_e_error), *trace_id = SLOT(e, off_e_trace_id);
    PyObject *agent = NULL, *model_series = NULL, *trace = NULL, *path = Py_None, *key = NULL;
    int failed = -1;
    agent = series_for(agents, lookup_agent, agent_id, now);
    if (agent == NULL)
        goto done;
    if (nonempty(model)) {
        model_series = series_for(models, lookup_model, model, now);
        if (model_series == NULL)
            goto done;
    } else {
        model = Py_None;
        model_series = Py_NewRef(Py_None);
    }
    int is_error = nonempty(error) || (span != Py_None && str_equal(span, s_error_span));
    if (nonempty(trace_id)) {
        trace = PyDict_GetItemWithError(traces, trace_id);
        if (trace == NULL) {
            if (PyErr_Occurred())
                goto done;
            trace = PyObject_CallFunctionObjArgs(new_trace, trace_id, agent_id, now, credits, NULL);
            if (trace == NULL)
                goto done;
        } else {
            Py_INCREF(trace);
            slot_set(trace, off_t_last, now);
            PyObject *moved = PyObject_CallOneArg(move_to_end, trace_id);
            if (moved == NULL)
                goto done;
            Py_DECREF(moved);
        }
        if (Py_TYPE(trace) != trace_type || SLOT(trace, off_t_path) == NULL) {
            PyErr_SetString(PyExc_TypeError, "a trace must be a Trace");
            goto done;
        }
        path = SLOT(trace, off_t_path);
    }
    key = PyTuple_New(6); /* holds the path: the trace's may change below */
    if (key == NULL)
        goto done;
    PyObject *tool = SLOT(e, off_e_tool_name), *key_error = is_error ? error : Py_None;
    PyObject *items[6] = {agent_id, model, span, key_error, tool, path};
    for (int i = 0; i < 6; i++) {
        Py_INCREF(items[i]);
        PyTuple_SET_ITEM(key, i, items[i]);
    }
    PyObject *group = PyDict_GetItemWithError(groups, key);
    if (group == NULL) {
        if (PyErr_Occurred())
            goto done;
        group = PyList_New(GROUP_SIZE);
        if (group == NULL)
            goto done;
        PyObject *zero = PyLong_FromLong(0), *one = PyLong_FromLong(1), *fzero = PyFloat_FromDouble(0.0);
        if (zero == NULL || one == NULL || fzero == NULL) {
            Py_XDECREF(zero);
            Py_XDECREF(one);
            Py_XDECREF(fzero);
            Py_DECREF(group);
            goto done;
        }
        PyObject *values[GROUP_SIZE] = {one,  zero,  fzero, fzero,        zero,
                                        zero, Py_None, agent, model_series, is_error ? Py_True : Py_False};
        for (int i = 0; i < GROUP_SIZE; i++) {
            Py_INCREF(values[i]);
            PyList_SET_ITEM(group, i, values[i]);
        }
        Py_DECREF(zero);
        Py_DECREF(one);
        Py_DECREF(fzero);
        int stored = PyDict_SetItem(groups, key, group);
        Py_DECREF(group); /* the dict holds it */
        if (stored)
            goto done;
    } else if (item_add_int(group, 0, 1)) {
        goto done;
    }
    int is_llm = span != Py_None && str_equal(span, s_llm);
    PyObject *latency = NULL;
    if (is_llm) {
        PyObject *cost_obj = SLOT(e, off_e_cost_usd);
        double cost = cost_obj != Py_None ? PyFloat_AS_DOUBLE(cost_obj) : 0.0;
        if (cost_obj != Py_None && 0.0 <= cost && cost <= max_cost) {
            if (item_add_int(group, 1, 1))
                goto done;
            PyObject *sum = plus(PyList_GET_ITEM(group, 2), cost);
            if (sum == NULL)
                goto done;
            PyList_SetItem(group, 2, sum);
            sum = plus(PyList_GET_ITEM(group, 3), cost * cost);
            if (sum == NULL)
                goto done;
            PyList_SetItem(group, 3, sum);
            if (trace == NULL || path != Py_None) {
                PyObject *cost_w = PyFloat_FromDouble(cost * w);
                if (cost_w == NULL)
                    goto done;
                int credited = add_credit(credits, agent_id, trace == NULL ? s_no_decision : path, cost_w, w_obj);
                Py_DECREF(cost_w);
                if (credited)
                    goto done;
            } else if (slot_add(trace, off_t_cost, cost * w) || slot_add(trace, off_t_inferences, w)) {
                goto done;
            }
        }
        if (!is_error) {
            PyObject *tokens = SLOT(e, off_e_tokens_output);
            long long n = 0;
            if (tokens != Py_None)
                small_int(tokens, &n); /* checked by events_fit */
            if (item_add_int(group, 4, 1) || item_add_int(group, 5, n))
                goto done;
            latency = SLOT(e, off_e_latency_ms);
        }
    } else if (span != Py_None && str_equal(span, s_decision_span)) {
        PyObject *decision = SLOT(e, off_e_decision_made);
        if (nonempty(decision)) {
            if (agent != Py_None &&
                count_decision(decisions, decisions_made, decide, agent_id, decision, SLOT(e, off_e_confidence), w,
                               w_obj, now))
                goto done;
            if (trace != NULL) {
                if (path == Py_None) {
                    slot_set(trace, off_t_path, decision);
                    PyObject *inferences = SLOT(trace, off_t_inferences);
                    int truthy = PyObject_IsTrue(inferences);
                    if (truthy < 0)
                        goto done;
                    if (truthy) {
                        if (add_credit(credits, agent_id, decision, SLOT(trace, off_t_cost), inferences))
                            goto done;
                        PyObject *zero = PyFloat_FromDouble(0.0);
                        if (zero == NULL)
                            goto done;
                        slot_set(trace, off_t_cost, zero);
                        slot_set(trace, off_t_inferences, zero);
                        Py_DECREF(zero);
                    }
                } else {
                    PyObject *joined = PyUnicode_Concat(path, s_arrow);
                    if (joined == NULL)
                        goto done;
                    PyObject *longer = PyUnicode_Concat(joined, decision);
                    Py_DECREF(joined);
                    if (longer == NULL)
                        goto done;
                    if (PyUnicode_GET_LENGTH(longer) > max_path) {
                        PyObject *cut = PyUnicode_Substring(longer, 0, max_path);
                        Py_DECREF(longer);
                        if (cut == NULL)
                            goto done;
                        longer = cut;
                    }
                    slot_set(trace, off_t_path, longer);
                    Py_DECREF(longer);
                }
            }
        }
    } else if (span != Py_None && str_equal(span, s_completion) && !is_error) {
        latency = SLOT(e, off_e_latency_ms);
    }
    if (latency != NULL && latency != Py_None) {
        double value = PyFloat_AS_DOUBLE(latency);
        if (0.0 <= value && value <= max_latency) {
            PyObject *latencies = PyList_GET_ITEM(group, 6);
            if (latencies == Py_None) {
                PyObject *fresh = PyList_New(1);
                if (fresh == NULL)
                    goto done;
                Py_INCREF(latency);
                PyList_SET_ITEM(fresh, 0, latency);
                PyList_SetItem(group, 6, fresh);
            } else if (PyList_Append(latencies, latency)) {
                goto done;
            }
        }
    }
    failed = 0;
done:
    Py_XDECREF(agent);
    Py_XDECREF(model_series);
    Py_XDECREF(trace);
    Py_XDECREF(key);
    return failed;
}

PyDoc_STRVAR(group_doc,
             "group(events, groups, credits, agents, models, traces, now, w, lookup_agent, lookup_model, new_trace, "
             "decide, decisions, decisions_made)\n--\n\n"
             "Ledger._group's loop: each event's order-dependent work, its sums into groups and path credits into "
             "credits; True, or None (nothing changed) for events the Python loop must take.");

static PyObject *
group(PyObject *module, PyObject *args)
{
    PyObject *events, *groups, *credits, *agents, *models, *traces, *now, *w_obj, *lookup_agent, *lookup_model,
        *new_trace, *decide;
    PyObject *decisions, *decisions_made;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!OO!OOOOO!O!", &PyList_Type, &events, &PyDict_Type, &groups,
                          &PyDict_Type, &credits, &PyDict_Type, &agents, &PyDict_Type, &models, &PyDict_Type, &traces,
                          &now, &PyFloat_Type, &w_obj, &lookup_agent, &lookup_model, &new_trace, &decide, &PyDict_Type,
                          &decisions, &PyDict_Type, &decisions_made))
        return NULL;
    if (event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_group() first");
        return NULL;
    }
    if (!PyFloat_CheckExact(now) || !PyFloat_CheckExact(w_obj) || PyDict_GET_SIZE(groups) ||
        PyDict_GET_SIZE(credits) || !events_fit(events))
        Py_RETURN_NONE;
    double w = PyFloat_AS_DOUBLE(w_obj);
    PyObject *move_to_end = PyObject_GetAttr(traces, s_move_to_end);
    if (move_to_end == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
        if (group_one(PyList_GET_ITEM(events, i), groups, credits, agents, models, traces, now, w, w_obj,
                      lookup_agent, lookup_model, new_trace, decide, decisions, decisions_made, move_to_end)) {
            Py_DECREF(move_to_end);
            return NULL;
        }
    }
    Py_DECREF(move_to_end);
    Py_RETURN_TRUE;
}

/* ----------------------------------------------------------------------------- path credits */
/* The agent's series for a credit: from the fold's cache, else from the scopes (NULL: none; borrowed). */
static PyObject *
credited_agent(PyObject *agents, PyObject *scopes, PyObject *prefix, PyObject *agent_id)
{
    PyObject *agent = PyDict_GetItemWithError(agents, agent_id);
    if (agent != NULL || PyErr_Occurred())
        return agent;
    PyObject *scope = PyUnicode_Concat(prefix, agent_id);
    if (scope == NULL)
        return NULL;
    agent = PyDict_GetItemWithError(scopes, scope);
    Py_DECREF(scope);
    return agent;
}

/* row[i] += term, as Python's += does it. */
static int
row_add_object(PyObject *row, Py_ssize_t i, PyObject *term)
{
    PyObject *sum = PyNumber_InPlaceAdd(PyList_GET_ITEM(row, i), term);
    if (sum == NULL)
        return -1;
    PyList_SetItem(row, i, sum);
    return 0;
}

PyDoc_STRVAR(credit_paths_doc, "credit_paths(credits, fleet, agents, scopes, agent_prefix, dimension)\n--\n\n"
                               "Ledger._credit_paths: each (agent, path)'s (cost, inferences) into the fleet's and "
                               "the agent's breakdown; True, or None (nothing changed) for the Python loop.");

static PyObject *
credit_paths(PyObject *module, PyObject *args)
{
    PyObject *credits, *fleet, *agents, *scopes, *prefix, *dimension;
    if (!PyArg_ParseTuple(args, "O!OO!O!UU", &PyDict_Type, &credits, &fleet, &PyDict_Type, &agents, &PyDict_Type,
                          &scopes, &prefix, &dimension))
        return NULL;
    if (series_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() first");
        return NULL;
    }
    if (!writable_series(fleet))
        Py_RETURN_NONE;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(credits, &pos, &key, &value)) { /* checked before anything changes */
        if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(key, 0)) ||
            !PyUnicode_CheckExact(PyTuple_GET_ITEM(key, 1)) || !PyList_CheckExact(value) || PyList_GET_SIZE(value) != 2)
            Py_RETURN_NONE;
        PyObject *agent = credited_agent(agents, scopes, prefix, PyTuple_GET_ITEM(key, 0));
        if (agent == NULL && PyErr_Occurred())
            return NULL;
        if (agent != NULL && !writable_series(agent))
            Py_RETURN_NONE;
    }
    PyObject *fs = SLOT(fleet, off_r_open);
    pos = 0;
    while (PyDict_Next(credits, &pos, &key, &value)) {
        PyObject *path = PyTuple_GET_ITEM(key, 1);
        PyObject *cost = PyList_GET_ITEM(value, 0), *inferences = PyList_GET_ITEM(value, 1);
        PyObject *agent = credited_agent(agents, scopes, prefix, PyTuple_GET_ITEM(key, 0));
        if (agent == NULL && PyErr_Occurred())
            return NULL;
        PyObject *targets[2] = {fs, agent != NULL ? SLOT(agent, off_r_open) : NULL};
        for (int t = 0; t < 2 && targets[t] != NULL; t++) {
            PyObject *row = row_of(targets[t], SLOT(targets[t], off_s_dims), dimension, path);
            if (row == NULL)
                return NULL;
            int failed = row_add_object(row, 0, inferences) || row_add_object(row, 2, cost) ||
                         row_add_object(row, 3, inferences);
            Py_DECREF(row);
            if (failed)
                return NULL;
        }
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, setup_doc},
    {"apply", apply, METH_VARARGS, apply_doc},
    {"setup_group", setup_group, METH_VARARGS, setup_group_doc},
    {"group", group, METH_VARARGS, group_doc},
    {"credit_paths", credit_paths, METH_VARARGS, credit_paths_doc},
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
