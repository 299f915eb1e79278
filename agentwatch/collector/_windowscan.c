/* The window's per-event passes, compiled: Window.add_many's grouping (group) and
   Window._add_second (add_second), each giving exactly what the Python loops in window.py give.

   add_second aggregates one second's events, grouped by agent: each group's sums into its agent's
   bucket and the fleet's, its latencies' sketch keys into both count dicts and, with totals, each
   event into its (agent, model) series.  Event fields are read at their slot offsets (an Event is a
   msgspec Struct: a fixed layout of object slots), and so are the window's own slotted objects.

   A batch or a second the passes are not sure to handle exactly as Python would (a value of an
   unexpected type, a token count beyond +-2**50 or a second's beyond 2**61 in all, a timestamp
   outside the ring, a subclass of Event) is left alone: they return None before changing anything,
   and the caller runs its Python loop.  Float sums are added in the Python loop's order, so they are
   bit-identical to its.  Built where a C compiler is found at install (an optional extension). */

#include "_slots.h"
#include <math.h>

#define N_BOUNDS_MAX 32
#define MAX_SERIES 8
#define TOKEN_LIMIT (1LL << 50)
#define SUM_LIMIT (1LL << 61)

/* --------------------------------------------------------------------------- set up once */
static PyTypeObject *event_type = NULL, *series_type = NULL, *bucket_type = NULL, *agent_type = NULL;
static Py_ssize_t off_agent_id, off_timestamp, off_span_type, off_model, off_tokens_input,
    off_tokens_output, off_latency_ms, off_cost_usd, off_cost_estimated, off_error, off_attributes;
static Py_ssize_t off_s_events, off_s_errors, off_s_tool_calls, off_s_tokens_in, off_s_tokens_out,
    off_s_cost, off_s_latency_count, off_s_latency_sum_ms, off_s_buckets;
static Py_ssize_t off_b_second, off_b_events, off_b_errors, off_b_tokens_in, off_b_tokens_out, off_b_cost,
    off_b_cost_estimated, off_b_tool_calls, off_b_completions, off_b_sketch;
static Py_ssize_t off_k_counts, off_k_count, off_k_sum;
static Py_ssize_t off_a_ring, off_a_events, off_a_last_seen, off_a_last_active, off_a_last_event, off_a_model,
    off_a_cost_unpriced, off_a_total_cost, off_a_cost_estimated, off_a_steps;
static double bounds[N_BOUNDS_MAX];
static int setup_keys(void);
static Py_ssize_t n_bounds = 0;
static double lo_value, hi_value, inv_log_gamma, max_cost, max_latency;
static PyObject *s_llm = NULL, *s_completion = NULL, *s_tool = NULL, *s_error = NULL,
                *s_heartbeat = NULL, *s_empty = NULL, *s_index = NULL, *s_series_for = NULL,
                *s_reset = NULL, *s_add_edge = NULL;

static int
keep_str(PyObject **slot, PyObject *value)
{
    if (!PyUnicode_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "span types must be str");
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

PyDoc_STRVAR(setup_doc, "setup(Event, Series, Bucket, AgentState, LatencySketch, bounds_ms, lo, hi, "
                        "inv_log_gamma, max_cost, max_latency, llm_call, completion, tool_call, error, "
                        "heartbeat)\n--\n\n"
                        "Learn the slot layouts of the window's types and its constants.");

static PyObject *
setup(PyObject *module, PyObject *args)
{
    PyObject *ev, *se, *bu, *ag, *sk, *bounds_list, *llm, *completion, *tool, *error, *heartbeat;
    double lo, hi, inv, mcost, mlat;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!dddddUUUUU", &PyType_Type, &ev, &PyType_Type, &se, &PyType_Type,
                          &bu, &PyType_Type, &ag, &PyType_Type, &sk, &PyList_Type, &bounds_list, &lo, &hi, &inv,
                          &mcost, &mlat, &llm, &completion, &tool, &error, &heartbeat))
        return NULL;
    const SlotName event_slots[] = {
        {"agent_id", &off_agent_id}, {"timestamp", &off_timestamp}, {"span_type", &off_span_type},
        {"model", &off_model}, {"tokens_input", &off_tokens_input}, {"tokens_output", &off_tokens_output},
        {"latency_ms", &off_latency_ms}, {"cost_usd", &off_cost_usd}, {"cost_estimated", &off_cost_estimated},
        {"error", &off_error}, {"attributes", &off_attributes}, {NULL, NULL},
    };
    const SlotName series_slots[] = {
        {"events", &off_s_events}, {"errors", &off_s_errors}, {"tool_calls", &off_s_tool_calls},
        {"tokens_in", &off_s_tokens_in}, {"tokens_out", &off_s_tokens_out}, {"cost", &off_s_cost},
        {"latency_count", &off_s_latency_count}, {"latency_sum_ms", &off_s_latency_sum_ms},
        {"buckets", &off_s_buckets}, {NULL, NULL},
    };
    const SlotName bucket_slots[] = {
        {"second", &off_b_second}, {"events", &off_b_events}, {"errors", &off_b_errors},
        {"tokens_in", &off_b_tokens_in}, {"tokens_out", &off_b_tokens_out}, {"cost", &off_b_cost},
        {"cost_estimated", &off_b_cost_estimated}, {"tool_calls", &off_b_tool_calls},
        {"completions", &off_b_completions}, {"sketch", &off_b_sketch}, {NULL, NULL},
    };
    const SlotName agent_slots[] = {
        {"ring", &off_a_ring}, {"events", &off_a_events}, {"last_seen", &off_a_last_seen},
        {"last_active", &off_a_last_active}, {"last_event", &off_a_last_event}, {"model", &off_a_model},
        {"cost_unpriced", &off_a_cost_unpriced}, {"total_cost", &off_a_total_cost},
        {"cost_estimated", &off_a_cost_estimated}, {"steps", &off_a_steps}, {NULL, NULL},
    };
    const SlotName sketch_slots[] = {
        {"counts", &off_k_counts}, {"count", &off_k_count}, {"sum", &off_k_sum}, {NULL, NULL},
    };
    if (offsets_of((PyTypeObject *)ev, event_slots) || offsets_of((PyTypeObject *)se, series_slots) ||
        offsets_of((PyTypeObject *)bu, bucket_slots) || offsets_of((PyTypeObject *)ag, agent_slots) ||
        offsets_of((PyTypeObject *)sk, sketch_slots))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(bounds_list);
    if (n >= N_BOUNDS_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many latency bounds");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double bound = PyFloat_AsDouble(PyList_GET_ITEM(bounds_list, i));
        if (bound == -1.0 && PyErr_Occurred())
            return NULL;
        bounds[i] = bound;
    }
    if (keep_str(&s_llm, llm) || keep_str(&s_completion, completion) || keep_str(&s_tool, tool) ||
        keep_str(&s_error, error) || keep_str(&s_heartbeat, heartbeat))
        return NULL;
    n_bounds = n;
    lo_value = lo;
    hi_value = hi;
    inv_log_gamma = inv;
    max_cost = mcost;
    max_latency = mlat;
    if (setup_keys())
        return NULL;
    PyObject *types[] = {ev, se, bu, ag};
    PyTypeObject **kept[] = {&event_type, &series_type, &bucket_type, &agent_type};
    for (int i = 0; i < 4; i++) {
        Py_INCREF(types[i]);
        Py_XSETREF(*kept[i], (PyTypeObject *)types[i]);
    }
    Py_RETURN_NONE;
}

enum { KIND_OTHER, KIND_LLM, KIND_COMPLETION, KIND_TOOL, KIND_ERROR, KIND_HEARTBEAT };

/* Which of the span types the pass tells apart an event's is (an exact str or None). */
static inline int
span_kind(PyObject *span_type)
{
    if (span_type == Py_None)
        return KIND_OTHER;
    if (str_is(span_type, s_llm))
        return KIND_LLM;
    if (str_is(span_type, s_completion))
        return KIND_COMPLETION;
    if (str_is(span_type, s_tool))
        return KIND_TOOL;
    if (str_is(span_type, s_error))
        return KIND_ERROR;
    if (str_is(span_type, s_heartbeat))
        return KIND_HEARTBEAT;
    return KIND_OTHER;
}

/* A token count the pass can add in 64 bits: None, or an exact int within +-2**50. */
static inline int
token_ok(PyObject *v, long long *out)
{
    if (v == Py_None) {
        *out = 0;
        return 1;
    }
    if (!PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || value > TOKEN_LIMIT || value < -TOKEN_LIMIT)
        return 0;
    *out = value;
    return 1;
}

/* Whether every event of the group is of the kinds the pass handles exactly. ``*magnitude`` adds up
   the token counts' absolute values: the caller keeps a second's within SUM_LIMIT, so no sum the pass
   makes (an event's, a group's, the second's) can leave 64 bits. */
static int
group_ok(PyObject *const *items, Py_ssize_t n, long long *magnitude)
{
    long long ti, to;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = items[i];
        if (Py_TYPE(e) != event_type)
            return 0;
        PyObject *v;
        if ((v = SLOT(e, off_timestamp)) == NULL || !PyFloat_CheckExact(v))
            return 0;
        if ((v = SLOT(e, off_span_type)) == NULL || (v != Py_None && !PyUnicode_CheckExact(v)))
            return 0;
        if ((v = SLOT(e, off_model)) == NULL || (v != Py_None && !PyUnicode_CheckExact(v)))
            return 0;
        if ((v = SLOT(e, off_error)) == NULL || (v != Py_None && !PyUnicode_CheckExact(v)))
            return 0;
        if ((v = SLOT(e, off_cost_usd)) == NULL || (v != Py_None && !PyFloat_CheckExact(v)))
            return 0;
        if ((v = SLOT(e, off_latency_ms)) == NULL || (v != Py_None && !PyFloat_CheckExact(v)))
            return 0;
        if ((v = SLOT(e, off_attributes)) == NULL || (v != Py_None && !PyDict_CheckExact(v)))
            return 0;
        if (SLOT(e, off_cost_estimated) == NULL)
            return 0;
        if ((v = SLOT(e, off_tokens_input)) == NULL || !token_ok(v, &ti))
            return 0;
        if ((v = SLOT(e, off_tokens_output)) == NULL || !token_ok(v, &to))
            return 0;
        *magnitude += (ti < 0 ? -ti : ti) + (to < 0 ? -to : to); /* each within 2**50: no overflow */
        if (*magnitude > SUM_LIMIT)
            return 0;
    }
    return 1;
}

/* What one (agent, model) series gets from the group, written back in one go. */
typedef struct {
    PyObject *series; /* borrowed: the totals hold it */
    long long events, errors, tool_calls, latency_count, tokens_in, tokens_out;
    double cost, latency_sum;
    int cost_read, latency_sum_read;
    long long buckets[N_BOUNDS_MAX + 1];
} SeriesDelta;

/* old + delta as a new int: in 64 bits when both fit, else as Python adds. */
static PyObject *
add_int(PyObject *old, long long delta)
{
    if (PyLong_CheckExact(old)) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(old, &overflow);
        long long sum;
        if (!overflow && !(value == -1 && PyErr_Occurred()) && !__builtin_add_overflow(value, delta, &sum))
            return PyLong_FromLongLong(sum);
        PyErr_Clear();
    }
    PyObject *d = PyLong_FromLongLong(delta);
    if (d == NULL)
        return NULL;
    PyObject *sum = PyNumber_Add(old, d);
    Py_DECREF(d);
    return sum;
}

/* old + delta written into old itself, when only the slot refers to it, it is a one-digit positive
   int and so is the sum (above the cached small ints): 1 when done. As for floats, no new object
   and no cold free. Reads CPython's int layout, so only for the versions whose layout it knows. */
static inline int
add_int_in_place(PyObject *old, long long delta)
{
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030F0000
    if (Py_REFCNT(old) != 1 || !PyLong_CheckExact(old))
        return 0;
    PyLongObject *v = (PyLongObject *)old;
#if PY_VERSION_HEX >= 0x030C0000
    if (v->long_value.lv_tag != (1 << 3)) /* one digit, positive */
        return 0;
    long long sum = (long long)v->long_value.ob_digit[0] + delta;
    if (sum <= 256 || sum >= ((long long)1 << PyLong_SHIFT))
        return 0;
    v->long_value.ob_digit[0] = (digit)sum;
#else
    if (Py_SIZE(old) != 1) /* one digit, positive */
        return 0;
    long long sum = (long long)v->ob_digit[0] + delta;
    if (sum <= 256 || sum >= ((long long)1 << PyLong_SHIFT))
        return 0;
    v->ob_digit[0] = (digit)sum;
#endif
    return 1;
#else
    return 0;
#endif
}

static int
add_int_slot(PyObject *obj, Py_ssize_t off, long long delta)
{
    if (!delta)
        return 0;
    PyObject *old = SLOT(obj, off);
    if (old == NULL) {
        PyErr_SetString(PyExc_AttributeError, "series slot not set");
        return -1;
    }
    if (add_int_in_place(old, delta))
        return 0;
    PyObject *sum = add_int(old, delta);
    if (sum == NULL)
        return -1;
    SLOT(obj, off) = sum;
    Py_DECREF(old);
    return 0;
}

/* Sets a float slot. A float only the slot refers to is changed in place: nobody else can see it,
   and neither a new object nor freeing the old one (long out of the cache, its memory then reused
   cold) is needed. */
static int
set_float_slot(PyObject *obj, Py_ssize_t off, double value)
{
    PyObject *held = SLOT(obj, off);
    if (held != NULL && Py_REFCNT(held) == 1 && PyFloat_CheckExact(held)) {
        ((PyFloatObject *)held)->ob_fval = value;
        return 0;
    }
    PyObject *f = PyFloat_FromDouble(value);
    if (f == NULL)
        return -1;
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = f;
    Py_XDECREF(old);
    return 0;
}

static int
read_float_slot(PyObject *obj, Py_ssize_t off, double *out)
{
    PyObject *v = SLOT(obj, off);
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "series slot not set");
        return -1;
    }
    double value = PyFloat_AsDouble(v);
    if (value == -1.0 && PyErr_Occurred())
        return -1;
    *out = value;
    return 0;
}

static int
flush_series(SeriesDelta *deltas, int count)
{
    for (int i = 0; i < count; i++) {
        SeriesDelta *d = &deltas[i];
        PyObject *s = d->series;
        if (add_int_slot(s, off_s_events, d->events) || add_int_slot(s, off_s_errors, d->errors) ||
            add_int_slot(s, off_s_tool_calls, d->tool_calls) ||
            add_int_slot(s, off_s_latency_count, d->latency_count) ||
            add_int_slot(s, off_s_tokens_in, d->tokens_in) || add_int_slot(s, off_s_tokens_out, d->tokens_out))
            return -1;
        if (d->cost_read && set_float_slot(s, off_s_cost, d->cost))
            return -1;
        if (d->latency_sum_read && set_float_slot(s, off_s_latency_sum_ms, d->latency_sum))
            return -1;
        PyObject *buckets = SLOT(s, off_s_buckets);
        for (Py_ssize_t b = 0; b <= n_bounds; b++) {
            if (!d->buckets[b])
                continue;
            if (buckets == NULL || !PyList_Check(buckets) || PyList_GET_SIZE(buckets) <= b) {
                PyErr_SetString(PyExc_TypeError, "series buckets must be a list of the bounds' length + 1");
                return -1;
            }
            PyObject *old = PyList_GET_ITEM(buckets, b);
            PyObject *sum = add_int(old, d->buckets[b]);
            if (sum == NULL)
                return -1;
            PyList_SET_ITEM(buckets, b, sum);
            Py_DECREF(old);
        }
    }
    return 0;
}

/* counts[key] = counts.get(key, 0) + by */
static int
count_key(PyObject *counts, PyObject *key, long long by)
{
    PyObject *old = PyDict_GetItemWithError(counts, key); /* borrowed */
    PyObject *value;
    if (old == NULL) {
        if (PyErr_Occurred())
            return -1;
        value = PyLong_FromLongLong(by);
    } else {
        value = add_int(old, by);
    }
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItem(counts, key, value);
    Py_DECREF(value);
    return rc;
}

/* The sketch keys of latencies within (lo, hi), made once: key - key_lo indexes key_cache. A
   second's keys for the fleet are counted in fleet_counts first (keys in the order first counted in
   fleet_touched), then added to the fleet's dict once each, in that order (as one by one would). */
static PyObject **key_cache = NULL;
static long long key_lo = 0, key_n = 0;
static long long *fleet_counts = NULL;
static long long *fleet_touched = NULL;
static int fleet_busy = 0; /* fleet_counts in use (a callback re-entering the pass counts directly) */

static int
setup_keys(void)
{
    if (key_cache != NULL) {
        for (long long i = 0; i < key_n; i++)
            Py_XDECREF(key_cache[i]);
    }
    PyMem_Free(key_cache);
    PyMem_Free(fleet_counts);
    PyMem_Free(fleet_touched);
    key_cache = NULL;
    fleet_counts = fleet_touched = NULL;
    key_n = 0;
    double low = ceil(log(lo_value) * inv_log_gamma) - 1.0, high = ceil(log(hi_value) * inv_log_gamma) + 1.0;
    if (!(high >= low) || high - low > 1 << 20) /* keys counted one by one */
        return 0;
    long long n = (long long)(high - low) + 1;
    key_cache = PyMem_Calloc((size_t)n, sizeof(PyObject *));
    fleet_counts = PyMem_Calloc((size_t)n, sizeof(long long));
    fleet_touched = PyMem_Malloc((size_t)n * sizeof(long long));
    if (key_cache == NULL || fleet_counts == NULL || fleet_touched == NULL) {
        PyMem_Free(key_cache);
        PyMem_Free(fleet_counts);
        PyMem_Free(fleet_touched);
        key_cache = NULL;
        fleet_counts = fleet_touched = NULL;
        PyErr_NoMemory();
        return -1;
    }
    key_lo = (long long)low;
    key_n = n;
    return 0;
}

typedef struct {
    int on;              /* counting into fleet_counts */
    long long n_touched;
} FleetKeys;

/* Count one latency's key into the agent's dict and the fleet's (or fleet_counts). */
static int
count_latency(double latency, PyObject *a_keys, PyObject *f_keys, FleetKeys *fk)
{
    double kd = ceil(log(latency) * inv_log_gamma);
    long long at = (long long)kd - key_lo;
    if (key_n && at >= 0 && at < key_n) {
        PyObject *key = key_cache[at];
        if (key == NULL && (key = key_cache[at] = PyLong_FromDouble(kd)) == NULL)
            return -1;
        if (count_key(a_keys, key, 1))
            return -1;
        if (fk->on) {
            if (!fleet_counts[at]++)
                fleet_touched[fk->n_touched++] = at;
            return 0;
        }
        return count_key(f_keys, key, 1);
    }
    PyObject *key = PyLong_FromDouble(kd);
    if (key == NULL)
        return -1;
    int rc = count_key(a_keys, key, 1) || count_key(f_keys, key, 1) ? -1 : 0;
    Py_DECREF(key);
    return rc;
}

/* Add what fleet_counts holds to the fleet's dict and clear it; -1 with an exception set. */
static int
flush_fleet_keys(PyObject *f_keys, FleetKeys *fk)
{
    int rc = 0;
    for (long long i = 0; i < fk->n_touched; i++) {
        long long at = fleet_touched[i];
        if (rc == 0 && count_key(f_keys, key_cache[at], fleet_counts[at]))
            rc = -1;
        fleet_counts[at] = 0;
    }
    fk->n_touched = 0;
    return rc;
}

/* ----------------------------------------------------------------------- one group's pass */
typedef struct {
    long long errors, tokens_in, tokens_out, tools, completions, lat_n, refused, bad_values;
    double cost_sum, lat_sum, last_seen, last_active;
    int estimated, unpriced;
    PyObject *last_event, *model; /* borrowed from the group; NULL: none */
    PyObject *heartbeats, *edges; /* new lists of (ts, attributes) and of latencies; NULL: none */
} GroupScan;

/* The per-event pass of Window._scan_group's loop in window.py over one group: sketch keys into
   a_keys and f_keys, totals into their series, the rest into *g. -1 with an exception set. */
static int
scan_group(PyObject *const *items, Py_ssize_t n, PyObject *a_keys, PyObject *f_keys, PyObject *totals, PyObject *index,
           PyObject *agent_id, PyObject *coerce_cost, GroupScan *g, FleetKeys *fk)
{
    int tally = totals != Py_None;
    PyObject *models = NULL;
    SeriesDelta deltas[MAX_SERIES];
    int n_deltas = 0;
    PyObject *last_model_key = NULL; /* borrowed: the model (or "") whose series is deltas[last] */
    int last_delta = -1;

    if (tally) { /* totals.models_of(agent_id), read from the index it reads */
        models = PyDict_GetItemWithError(index, agent_id);
        if (models == NULL && PyErr_Occurred())
            goto fail;
        models = models == NULL ? Py_None : models;
        Py_INCREF(models);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = items[i];
        PyObject *span_type = SLOT(e, off_span_type);
        PyObject *event_model = SLOT(e, off_model);
        SeriesDelta *sd = NULL;
        if (tally) {
            PyObject *key = event_model == Py_None ? s_empty : event_model;
            if (last_delta >= 0 && str_equal(key, last_model_key)) {
                sd = &deltas[last_delta];
            } else {
                PyObject *series = NULL;
                if (models != Py_None && PyDict_CheckExact(models)) {
                    series = PyDict_GetItemWithError(models, key); /* borrowed */
                    if (series == NULL && PyErr_Occurred())
                        goto fail;
                }
                if (series == NULL) {
                    PyObject *made = PyObject_CallMethodObjArgs(totals, s_series_for, agent_id, key, NULL);
                    if (made == NULL)
                        goto fail;
                    Py_DECREF(made); /* the totals keep it */
                    series = made;
                    PyObject *fresh = PyDict_GetItemWithError(index, agent_id);
                    if (fresh == NULL && PyErr_Occurred())
                        goto fail;
                    fresh = fresh == NULL ? Py_None : fresh;
                    Py_INCREF(fresh);
                    Py_XSETREF(models, fresh);
                }
                if (Py_TYPE(series) != series_type) {
                    PyErr_SetString(PyExc_TypeError, "totals must hold Series");
                    goto fail;
                }
                int found = -1;
                for (int j = 0; j < n_deltas; j++) {
                    if (deltas[j].series == series) {
                        found = j;
                        break;
                    }
                }
                if (found < 0) {
                    if (n_deltas == MAX_SERIES) {
                        if (flush_series(deltas, n_deltas))
                            goto fail;
                        n_deltas = 0;
                    }
                    found = n_deltas++;
                    memset(&deltas[found], 0, sizeof(SeriesDelta));
                    deltas[found].series = series;
                }
                sd = &deltas[found];
                last_delta = found;
                last_model_key = key;
            }
            sd->events += 1;
        }
        PyObject *cost_obj = SLOT(e, off_cost_usd);
        PyObject *ti_obj = SLOT(e, off_tokens_input);
        PyObject *to_obj = SLOT(e, off_tokens_output);
        if (cost_obj != Py_None) {
            double cost = PyFloat_AS_DOUBLE(cost_obj);
            if (0.0 <= cost && cost <= max_cost) {
                g->cost_sum += cost;
                if (cost != 0.0 && sd != NULL) {
                    if (!sd->cost_read) {
                        if (read_float_slot(sd->series, off_s_cost, &sd->cost))
                            goto fail;
                        sd->cost_read = 1;
                    }
                    sd->cost += cost;
                }
                if (SLOT(e, off_cost_estimated) == Py_True)
                    g->estimated = 1;
            } else {
                g->bad_values += 1;
                if (sd != NULL)
                    g->refused += 1;
            }
        } else if (ti_obj != Py_None || to_obj != Py_None) {
            PyObject *pair = PyObject_CallOneArg(coerce_cost, e);
            if (pair == NULL)
                goto fail;
            if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
                Py_DECREF(pair);
                PyErr_SetString(PyExc_TypeError, "coerce_cost must return (cost, estimated)");
                goto fail;
            }
            double cost = PyFloat_AsDouble(PyTuple_GET_ITEM(pair, 0));
            int est = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 1));
            Py_DECREF(pair);
            if ((cost == -1.0 && PyErr_Occurred()) || est < 0)
                goto fail;
            if (est)
                g->estimated = 1;
            else
                g->unpriced = 1;
            g->cost_sum += cost;
        }
        long long ti = 0, to = 0;
        token_ok(ti_obj, &ti); /* checked by group_ok */
        token_ok(to_obj, &to);
        if (ti) {
            g->tokens_in += ti;
            if (sd != NULL)
                sd->tokens_in += ti;
        }
        if (to) {
            g->tokens_out += to;
            if (sd != NULL)
                sd->tokens_out += to;
        }
        int kind = span_kind(span_type);
        int is_error_span = kind == KIND_ERROR;
        PyObject *error = SLOT(e, off_error);
        if (error != Py_None && !is_error_span) {
            if (PyUnicode_GET_LENGTH(error))
                g->errors += 1;
            if (sd != NULL)
                sd->errors += 1;
        }
        if (kind == KIND_LLM || kind == KIND_COMPLETION) {
            g->completions += 1;
            PyObject *lat_obj = SLOT(e, off_latency_ms);
            if (lat_obj != Py_None) {
                double latency = PyFloat_AS_DOUBLE(lat_obj);
                if (sd != NULL) {
                    if (0.0 <= latency && latency <= max_latency) {
                        sd->latency_count += 1;
                        if (!sd->latency_sum_read) {
                            if (read_float_slot(sd->series, off_s_latency_sum_ms, &sd->latency_sum))
                                goto fail;
                            sd->latency_sum_read = 1;
                        }
                        sd->latency_sum += latency;
                        Py_ssize_t b = 0; /* bisect_left */
                        while (b < n_bounds && bounds[b] < latency)
                            b++;
                        sd->buckets[b] += 1;
                    } else {
                        g->refused += 1;
                    }
                }
                if (lo_value < latency && latency < hi_value) {
                    if (count_latency(latency, a_keys, f_keys, fk))
                        goto fail;
                    g->lat_n += 1;
                    g->lat_sum += latency;
                } else {
                    if (g->edges == NULL && (g->edges = PyList_New(0)) == NULL)
                        goto fail;
                    if (PyList_Append(g->edges, lat_obj))
                        goto fail;
                }
            }
        } else if (kind == KIND_TOOL) {
            g->tools += 1;
            if (sd != NULL)
                sd->tool_calls += 1;
        } else if (is_error_span) {
            g->errors += 1;
            if (sd != NULL)
                sd->errors += 1;
        }
        PyObject *ts_obj = SLOT(e, off_timestamp);
        double ts = PyFloat_AS_DOUBLE(ts_obj);
        if (ts >= g->last_seen)
            g->last_seen = ts;
        if (kind == KIND_HEARTBEAT) {
            PyObject *attributes = SLOT(e, off_attributes);
            if (attributes != Py_None && PyDict_GET_SIZE(attributes)) {
                if (g->heartbeats == NULL && (g->heartbeats = PyList_New(0)) == NULL)
                    goto fail;
                PyObject *pair = PyTuple_Pack(2, ts_obj, attributes);
                if (pair == NULL)
                    goto fail;
                int rc = PyList_Append(g->heartbeats, pair);
                Py_DECREF(pair);
                if (rc)
                    goto fail;
            }
        } else if (ts >= g->last_active) {
            g->last_active = ts;
            g->last_event = e;
        }
        if (event_model != Py_None && PyUnicode_GET_LENGTH(event_model))
            g->model = event_model;
    }
    if (flush_series(deltas, n_deltas))
        goto fail;
    Py_XDECREF(models);
    return 0;
fail:
    Py_XDECREF(models);
    return -1;
}

/* ------------------------------------------------------------------------ slot arithmetic */
static int
add_float_slot(PyObject *obj, Py_ssize_t off, double delta)
{
    double value;
    if (read_float_slot(obj, off, &value))
        return -1;
    return set_float_slot(obj, off, value + delta);
}

static int
set_slot(PyObject *obj, Py_ssize_t off, PyObject *value)
{
    Py_INCREF(value);
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = value;
    Py_XDECREF(old);
    return 0;
}

/* The agent's bucket for ``sec`` at ``slot`` of its ring: made, or reset when it held another
   second (as Window._add_second does). New reference. */
static PyObject *
bucket_at(PyObject *agent, Py_ssize_t slot, PyObject *sec_obj, long long sec)
{
    PyObject *ring = SLOT(agent, off_a_ring);
    if (ring == NULL || !PyList_CheckExact(ring) || slot < 0 || slot >= PyList_GET_SIZE(ring)) {
        PyErr_SetString(PyExc_TypeError, "an agent's ring must be a list of the ring's length");
        return NULL;
    }
    PyObject *bucket = PyList_GET_ITEM(ring, slot);
    if (bucket == Py_None) {
        bucket = PyObject_CallOneArg((PyObject *)bucket_type, sec_obj);
        if (bucket == NULL)
            return NULL;
        Py_INCREF(bucket);
        PyList_SetItem(ring, slot, bucket); /* steals one reference */
        return bucket;
    }
    if (Py_TYPE(bucket) != bucket_type) {
        PyErr_SetString(PyExc_TypeError, "an agent's ring must hold Buckets");
        return NULL;
    }
    Py_INCREF(bucket);
    PyObject *second = SLOT(bucket, off_b_second);
    int same = second != NULL && PyLong_CheckExact(second) && PyLong_AsLongLong(second) == sec;
    if (PyErr_Occurred()) {
        PyErr_Clear();
        same = 0;
    }
    if (!same) {
        PyObject *done = PyObject_CallMethodOneArg(bucket, s_reset, sec_obj);
        if (done == NULL) {
            Py_DECREF(bucket);
            return NULL;
        }
        Py_DECREF(done);
    }
    return bucket;
}

/* ------------------------------------------------------------------------ a batch, grouped */
/* One (second, agent) group of a Grouping. */
typedef struct {
    PyObject *agent_id; /* borrowed: its first event's */
    long long sec;
    unsigned long long hash;
    Py_ssize_t start, count; /* its events: ordered[start : start + count] */
} GroupInfo;

/* What group() makes of a batch: {second: {agent id: [events]}} without a Python object per group.
   Each group's events lie together in ``ordered``, in arrival order; groups and seconds keep the
   order they were first seen in, as the dicts of Window.add_many's loop do. */
typedef struct {
    PyObject_HEAD
    PyObject *events;        /* the batch: keeps the events ``ordered`` borrows alive */
    PyObject **ordered;      /* borrowed */
    GroupInfo *groups;       /* first-seen order */
    Py_ssize_t n_groups;
    long long *seconds;      /* first-seen order */
    Py_ssize_t n_seconds;
    Py_ssize_t *by_second;   /* group indices, second after second, first-seen order within each */
    Py_ssize_t *second_start; /* n_seconds + 1 entries: each second's part of by_second */
} Grouping;

static void
grouping_dealloc(Grouping *self)
{
    PyMem_Free(self->ordered);
    PyMem_Free(self->groups);
    PyMem_Free(self->seconds);
    PyMem_Free(self->by_second);
    PyMem_Free(self->second_start);
    Py_XDECREF(self->events);
    PyObject_Free(self);
}

static PyObject *
grouping_seconds(Grouping *self, PyObject *unused)
{
    PyObject *out = PyList_New(self->n_seconds);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->n_seconds; i++) {
        PyObject *sec = PyLong_FromLongLong(self->seconds[i]);
        if (sec == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, sec);
    }
    return out;
}

/* A new list of a group's events. */
static PyObject *
group_list(Grouping *self, GroupInfo *info)
{
    PyObject *list = PyList_New(info->count);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < info->count; k++) {
        PyObject *e = self->ordered[info->start + k];
        Py_INCREF(e);
        PyList_SET_ITEM(list, k, e);
    }
    return list;
}

static PyObject *
grouping_groups(Grouping *self, PyObject *arg)
{
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred())
        return NULL;
    if (index < 0 || index >= self->n_seconds) {
        PyErr_SetString(PyExc_IndexError, "no such second in this grouping");
        return NULL;
    }
    PyObject *out = PyDict_New();
    if (out == NULL)
        return NULL;
    for (Py_ssize_t k = self->second_start[index]; k < self->second_start[index + 1]; k++) {
        GroupInfo *info = &self->groups[self->by_second[k]];
        PyObject *list = group_list(self, info);
        if (list == NULL || PyDict_SetItem(out, info->agent_id, list)) {
            Py_XDECREF(list);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(list);
    }
    return out;
}

static PyMethodDef grouping_methods[] = {
    {"seconds", (PyCFunction)grouping_seconds, METH_NOARGS,
     "The batch's seconds, in the order first seen (the keys of Window.add_many's by_second)."},
    {"groups", (PyCFunction)grouping_groups, METH_O,
     "groups(index): the index-th second's {agent id: [events]} as Window.add_many's loop builds it."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject GroupingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "agentwatch.collector._windowscan.Grouping",
    .tp_basicsize = sizeof(Grouping),
    .tp_dealloc = (destructor)grouping_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A batch grouped by (second, agent) by group(); read by add_second.",
    .tp_methods = grouping_methods,
};

/* One group as add_second reads it: from a dict's list or from a Grouping. */
typedef struct {
    PyObject *agent_id;    /* borrowed */
    PyObject *const *items; /* borrowed events */
    Py_ssize_t n;
    PyObject *list;        /* borrowed: the dict's list; NULL for a Grouping's group */
    GroupInfo *info;       /* the Grouping's group; NULL for a dict's */
} GroupView;

/* ------------------------------------------------------------------------ one second's pass */
PyDoc_STRVAR(add_second_doc,
             "add_second(sec, slot, groups, agents, new_agent, f_bucket, fleet, totals, coerce_cost, "
             "close_ended, heartbeats, index=0)\n--\n\n"
             "Window._add_second for one second's groups (agent id -> events: a dict, or the index-th "
             "second of a Grouping from group()), compiled. None when a "
             "group must take the Python loop (nothing was changed then); else (cost, cost estimated, "
             "values refused, bad values, agents dropped).");

static PyObject *
add_second(PyObject *module, PyObject *args)
{
    PyObject *sec_obj, *groups, *agents, *new_agent, *f_bucket, *fleet, *totals, *coerce_cost, *close_ended,
        *on_heartbeats;
    Py_ssize_t slot, second_index = 0;
    if (!PyArg_ParseTuple(args, "O!nOO!OOOOOOO|n", &PyLong_Type, &sec_obj, &slot, &groups, &PyDict_Type, &agents,
                          &new_agent, &f_bucket, &fleet, &totals, &coerce_cost, &close_ended, &on_heartbeats,
                          &second_index))
        return NULL;
    if (event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    long long sec = PyLong_AsLongLong(sec_obj);
    if (sec == -1 && PyErr_Occurred())
        return NULL;
    if (Py_TYPE(f_bucket) != bucket_type)
        Py_RETURN_NONE;
    /* The second's groups as views, in the order the dict (or the grouping) holds them. */
    GroupView *views = NULL;
    Py_ssize_t n_views = 0;
    if (PyDict_CheckExact(groups)) {
        views = PyMem_Malloc(sizeof(GroupView) * (size_t)(PyDict_GET_SIZE(groups) + 1));
        if (views == NULL)
            return PyErr_NoMemory();
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(groups, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key) || !PyList_CheckExact(value) || PyList_GET_SIZE(value) == 0) {
                PyMem_Free(views);
                Py_RETURN_NONE;
            }
            views[n_views++] = (GroupView){key, ((PyListObject *)value)->ob_item, PyList_GET_SIZE(value), value, NULL};
        }
    } else if (Py_TYPE(groups) == &GroupingType) {
        Grouping *grouping = (Grouping *)groups;
        if (second_index < 0 || second_index >= grouping->n_seconds || grouping->seconds[second_index] != sec) {
            PyErr_SetString(PyExc_IndexError, "not a second of this grouping");
            return NULL;
        }
        Py_ssize_t first = grouping->second_start[second_index], stop = grouping->second_start[second_index + 1];
        views = PyMem_Malloc(sizeof(GroupView) * (size_t)(stop - first + 1));
        if (views == NULL)
            return PyErr_NoMemory();
        for (Py_ssize_t k = first; k < stop; k++) {
            GroupInfo *info = &grouping->groups[grouping->by_second[k]];
            views[n_views++] = (GroupView){info->agent_id, grouping->ordered + info->start, info->count, NULL, info};
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "groups must be a dict or a Grouping");
        return NULL;
    }
    /* Everything checked before anything changes: the caller falls back to Python on None. */
    PyObject *agent_id;
    long long magnitude = 0;
    for (Py_ssize_t v_i = 0; v_i < n_views; v_i++) {
        if (!group_ok(views[v_i].items, views[v_i].n, &magnitude)) {
            PyMem_Free(views);
            Py_RETURN_NONE;
        }
        PyObject *agent = PyDict_GetItemWithError(agents, views[v_i].agent_id);
        if (agent == NULL && PyErr_Occurred()) {
            PyMem_Free(views);
            return NULL;
        }
        if (agent != NULL) {
            PyObject *v;
            if (Py_TYPE(agent) != agent_type || (v = SLOT(agent, off_a_last_seen)) == NULL || !PyFloat_CheckExact(v) ||
                (v = SLOT(agent, off_a_last_active)) == NULL || !PyFloat_CheckExact(v) ||
                (v = SLOT(agent, off_a_total_cost)) == NULL || !PyFloat_CheckExact(v)) {
                PyMem_Free(views);
                Py_RETURN_NONE;
            }
        }
    }
    PyObject *f_sketch = SLOT(f_bucket, off_b_sketch);
    if (f_sketch == NULL || SLOT(f_sketch, off_k_counts) == NULL || !PyDict_CheckExact(SLOT(f_sketch, off_k_counts))) {
        PyMem_Free(views);
        Py_RETURN_NONE;
    }
    PyObject *f_keys = SLOT(f_sketch, off_k_counts);
    PyObject *index = NULL; /* the totals' agent -> model -> series index (what models_of reads) */
    if (totals != Py_None) {
        index = PyObject_GetAttr(totals, s_index);
        if (index == NULL) {
            PyMem_Free(views);
            return NULL;
        }
        if (!PyDict_CheckExact(index)) {
            Py_DECREF(index);
            PyMem_Free(views);
            Py_RETURN_NONE;
        }
    }

    long long f_events = 0, f_errors = 0, f_in = 0, f_out = 0, f_tools = 0, f_compl = 0, f_lat_n = 0;
    long long refused = 0, bad_values = 0, dropped = 0;
    double f_cost = 0.0, f_lat_sum = 0.0;
    int f_estimated = 0;
    PyObject *edges = NULL, *spare = NULL, *agent = NULL, *bucket = NULL;
    GroupScan g;
    memset(&g, 0, sizeof g);
    FleetKeys fk = {!fleet_busy && key_n, 0};
    if (fk.on)
        fleet_busy = 1;

    for (Py_ssize_t v_i = 0; v_i < n_views; v_i++) {
        GroupView *view = &views[v_i];
        agent_id = view->agent_id;
        if (view->list != NULL) { /* read the list again: Python ran in between */
            if (PyList_GET_SIZE(view->list) != view->n) {
                PyErr_SetString(PyExc_RuntimeError, "a group changed during the pass");
                goto fail;
            }
            view->items = ((PyListObject *)view->list)->ob_item;
        }
        agent = PyDict_GetItemWithError(agents, agent_id); /* borrowed */
        if (agent == NULL && PyErr_Occurred())
            goto fail;
        if (agent == NULL) {
            PyObject *first_ts = SLOT(view->items[0], off_timestamp);
            agent = PyObject_CallFunctionObjArgs(new_agent, agent_id, first_ts, NULL);
            if (agent == NULL)
                goto fail;
            Py_DECREF(agent); /* the window keeps it (or it is None) */
            if (agent != Py_None && Py_TYPE(agent) != agent_type) {
                PyErr_SetString(PyExc_TypeError, "new_agent must return an AgentState or None");
                agent = NULL;
                goto fail;
            }
        }
        Py_ssize_t count = view->n;
        PyObject *a_keys;
        memset(&g, 0, sizeof g);
        if (agent != Py_None) {
            Py_INCREF(agent);
            bucket = bucket_at(agent, slot, sec_obj, sec);
            if (bucket == NULL)
                goto fail;
            PyObject *sketch = SLOT(bucket, off_b_sketch);
            a_keys = sketch == NULL ? NULL : SLOT(sketch, off_k_counts);
            if (a_keys == NULL || !PyDict_CheckExact(a_keys)) {
                PyErr_SetString(PyExc_TypeError, "a bucket's sketch must count in a dict");
                goto fail;
            }
            g.last_seen = PyFloat_AS_DOUBLE(SLOT(agent, off_a_last_seen));
            g.last_active = PyFloat_AS_DOUBLE(SLOT(agent, off_a_last_active));
        } else { /* over the cardinality cap: the fleet's numbers only, each event counted */
            agent = NULL;
            dropped += count - 1;
            if (spare == NULL && (spare = PyDict_New()) == NULL)
                goto fail;
            a_keys = spare;
            g.last_seen = g.last_active = Py_HUGE_VAL;
        }
        if (scan_group(view->items, view->n, a_keys, f_keys, totals, index, agent_id, coerce_cost, &g, &fk))
            goto fail;
        refused += g.refused;
        bad_values += g.bad_values;
        f_events += count;
        if (agent == NULL) {
            PyDict_Clear(spare);
        } else {
            if (add_int_slot(bucket, off_b_events, count) || add_int_slot(agent, off_a_events, count) ||
                set_float_slot(agent, off_a_last_seen, g.last_seen))
                goto fail;
            if (g.last_event != NULL &&
                (set_float_slot(agent, off_a_last_active, g.last_active) || set_slot(agent, off_a_last_event, g.last_event)))
                goto fail;
            if (g.model != NULL && set_slot(agent, off_a_model, g.model))
                goto fail;
            if (g.unpriced && set_slot(agent, off_a_cost_unpriced, Py_True))
                goto fail;
        }
        if (g.tokens_in || g.tokens_out) {
            f_in += g.tokens_in;
            f_out += g.tokens_out;
            if (bucket != NULL && (add_int_slot(bucket, off_b_tokens_in, g.tokens_in) ||
                                   add_int_slot(bucket, off_b_tokens_out, g.tokens_out)))
                goto fail;
        }
        if (g.cost_sum != 0.0 || g.estimated) {
            f_cost += g.cost_sum;
            if (g.estimated)
                f_estimated = 1;
            if (bucket != NULL) {
                if (add_float_slot(bucket, off_b_cost, g.cost_sum) ||
                    add_float_slot(agent, off_a_total_cost, g.cost_sum))
                    goto fail;
                if (g.estimated && (set_slot(bucket, off_b_cost_estimated, Py_True) ||
                                    set_slot(agent, off_a_cost_estimated, Py_True)))
                    goto fail;
            }
        }
        if (g.errors) {
            f_errors += g.errors;
            if (bucket != NULL && add_int_slot(bucket, off_b_errors, g.errors))
                goto fail;
        }
        if (g.tools) {
            f_tools += g.tools;
            if (bucket != NULL && add_int_slot(bucket, off_b_tool_calls, g.tools))
                goto fail;
        }
        if (g.completions) {
            f_compl += g.completions;
            if (bucket != NULL && add_int_slot(bucket, off_b_completions, g.completions))
                goto fail;
        }
        if (g.lat_n) {
            f_lat_n += g.lat_n;
            f_lat_sum += g.lat_sum;
            if (bucket != NULL) {
                PyObject *sketch = SLOT(bucket, off_b_sketch);
                if (add_int_slot(sketch, off_k_count, g.lat_n) || add_float_slot(sketch, off_k_sum, g.lat_sum))
                    goto fail;
            }
        }
        if (g.edges != NULL) {
            if (edges == NULL && (edges = PyList_New(0)) == NULL)
                goto fail;
            for (Py_ssize_t k = 0; k < PyList_GET_SIZE(g.edges); k++) {
                PyObject *latency = PyList_GET_ITEM(g.edges, k);
                if (PyList_Append(edges, latency))
                    goto fail;
                if (bucket != NULL) {
                    PyObject *done = PyObject_CallMethodOneArg(SLOT(bucket, off_b_sketch), s_add_edge, latency);
                    if (done == NULL)
                        goto fail;
                    Py_DECREF(done);
                }
            }
        }
        if (agent != NULL && SLOT(agent, off_a_steps) != NULL && SLOT(agent, off_a_steps) != Py_None) {
            PyObject *group = view->list;
            if (group != NULL)
                Py_INCREF(group);
            else if ((group = group_list((Grouping *)groups, view->info)) == NULL)
                goto fail;
            PyObject *done = PyObject_CallFunctionObjArgs(close_ended, agent, group, NULL);
            Py_DECREF(group);
            if (done == NULL)
                goto fail;
            Py_DECREF(done);
        }
        if (g.heartbeats != NULL && agent != NULL) {
            PyObject *done = PyObject_CallFunctionObjArgs(on_heartbeats, agent, g.heartbeats, NULL);
            if (done == NULL)
                goto fail;
            Py_DECREF(done);
        }
        Py_CLEAR(g.heartbeats);
        Py_CLEAR(g.edges);
        Py_CLEAR(bucket);
        Py_CLEAR(agent);
    }
    if (fk.on) {
        fleet_busy = 0;
        fk.on = 0;
        if (flush_fleet_keys(f_keys, &fk))
            goto fail;
    }
    if (add_int_slot(f_bucket, off_b_events, f_events) || add_int_slot(f_bucket, off_b_errors, f_errors) ||
        add_int_slot(f_bucket, off_b_tokens_in, f_in) || add_int_slot(f_bucket, off_b_tokens_out, f_out) ||
        add_int_slot(f_bucket, off_b_tool_calls, f_tools) || add_int_slot(f_bucket, off_b_completions, f_compl) ||
        add_float_slot(f_bucket, off_b_cost, f_cost))
        goto fail;
    if (f_estimated && set_slot(f_bucket, off_b_cost_estimated, Py_True))
        goto fail;
    if (add_int_slot(f_sketch, off_k_count, f_lat_n) || add_float_slot(f_sketch, off_k_sum, f_lat_sum))
        goto fail;
    if (edges != NULL) {
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(edges); k++) {
            PyObject *done = PyObject_CallMethodOneArg(f_sketch, s_add_edge, PyList_GET_ITEM(edges, k));
            if (done == NULL)
                goto fail;
            Py_DECREF(done);
        }
    }
    if (add_int_slot(fleet, off_a_events, f_events))
        goto fail;
    Py_XDECREF(edges);
    Py_XDECREF(spare);
    Py_XDECREF(index);
    PyMem_Free(views);
    return Py_BuildValue("(dOLLL)", f_cost, f_estimated ? Py_True : Py_False, refused, bad_values, dropped);
fail:
    if (fk.on) { /* the counts are lost with the error, as they would be one by one */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        fleet_busy = 0;
        for (long long i = 0; i < fk.n_touched; i++)
            fleet_counts[fleet_touched[i]] = 0;
        PyErr_Restore(type, value, traceback);
    }
    Py_XDECREF(g.heartbeats);
    Py_XDECREF(g.edges);
    Py_XDECREF(bucket);
    Py_XDECREF(agent);
    Py_XDECREF(edges);
    Py_XDECREF(spare);
    Py_XDECREF(index);
    PyMem_Free(views);
    return NULL;
}

/* ----------------------------------------------------------------------- grouping a batch */
PyDoc_STRVAR(group_doc,
             "group(events, oldest, now)\n--\n\n"
             "Window.add_many's grouping, compiled: a Grouping ({second: {agent id: [events]}} in arrival "
             "order, read by add_second), or None when an event needs the Python loop (a timestamp not a "
             "float in [oldest, now], an agent id not a str, not an Event).");

static inline unsigned long long
mix64(unsigned long long h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A hash of a str's code units (equal str, equal hash): cheaper than str's own for the short ids of
   a batch, each a new object whose hash is not cached yet. */
static inline unsigned long long
text_hash(PyObject *s)
{
    const unsigned char *p = PyUnicode_DATA(s);
    size_t len = (size_t)PyUnicode_GET_LENGTH(s) * PyUnicode_KIND(s);
    unsigned long long h = 0x9e3779b97f4a7c15ULL ^ len, w;
    for (; len >= 8; len -= 8, p += 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    if (len) {
        w = 0;
        memcpy(&w, p, len);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    return h;
}

static PyObject *
group(PyObject *module, PyObject *args)
{
    PyObject *events;
    double oldest, now;
    if (!PyArg_ParseTuple(args, "O!dd", &PyList_Type, &events, &oldest, &now))
        return NULL;
    if (event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup() was not called");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        if (Py_TYPE(e) != event_type)
            Py_RETURN_NONE;
        PyObject *ts = SLOT(e, off_timestamp), *agent_id = SLOT(e, off_agent_id);
        if (ts == NULL || !PyFloat_CheckExact(ts) || agent_id == NULL || !PyUnicode_CheckExact(agent_id) ||
            PyUnicode_READY(agent_id) < 0)
            Py_RETURN_NONE;
        double t = PyFloat_AS_DOUBLE(ts);
        if (!(oldest <= t && t <= now))
            Py_RETURN_NONE;
    }
    Grouping *g = PyObject_New(Grouping, &GroupingType);
    if (g == NULL)
        return NULL;
    g->ordered = NULL;
    g->groups = NULL;
    g->seconds = NULL;
    g->by_second = NULL;
    g->second_start = NULL;
    g->n_groups = g->n_seconds = 0;
    Py_INCREF(events);
    g->events = events;
    size_t cap = 16;
    while (cap < 2 * (size_t)n)
        cap <<= 1;
    size_t mask = cap - 1;
    Py_ssize_t *table = PyMem_Malloc(sizeof(Py_ssize_t) * cap);     /* (second, agent) -> group */
    Py_ssize_t *sec_table = PyMem_Malloc(sizeof(Py_ssize_t) * cap); /* second -> its index */
    Py_ssize_t *group_of = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    Py_ssize_t *second_of = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1)); /* per group */
    g->groups = PyMem_Malloc(sizeof(GroupInfo) * (size_t)(n + 1));
    g->seconds = PyMem_Malloc(sizeof(long long) * (size_t)(n + 1));
    g->ordered = PyMem_Malloc(sizeof(PyObject *) * (size_t)(n + 1));
    g->by_second = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    g->second_start = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 2));
    if (table == NULL || sec_table == NULL || group_of == NULL || second_of == NULL || g->groups == NULL ||
        g->seconds == NULL || g->ordered == NULL || g->by_second == NULL || g->second_start == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    memset(table, 0xff, sizeof(Py_ssize_t) * cap); /* -1: empty */
    memset(sec_table, 0xff, sizeof(Py_ssize_t) * cap);
    long long last_sec = 0;
    Py_ssize_t last_second = -1; /* the index of last_sec (-1: none yet) */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        long long sec = (long long)PyFloat_AS_DOUBLE(SLOT(e, off_timestamp)); /* int(t): toward zero */
        PyObject *agent_id = SLOT(e, off_agent_id);
        unsigned long long h = mix64(text_hash(agent_id) ^ ((unsigned long long)sec * 0x9e3779b97f4a7c15ULL));
        size_t at = (size_t)h & mask;
        Py_ssize_t found;
        for (;;) {
            found = table[at];
            if (found < 0)
                break;
            GroupInfo *info = &g->groups[found];
            if (info->hash == h && info->sec == sec && str_equal(info->agent_id, agent_id))
                break;
            at = (at + 1) & mask;
        }
        if (found < 0) { /* a new group; perhaps a new second */
            if (last_second < 0 || sec != last_sec) {
                size_t s_at = (size_t)mix64((unsigned long long)sec) & mask;
                while (sec_table[s_at] >= 0 && g->seconds[sec_table[s_at]] != sec)
                    s_at = (s_at + 1) & mask;
                if (sec_table[s_at] < 0) {
                    sec_table[s_at] = g->n_seconds;
                    g->seconds[g->n_seconds++] = sec;
                }
                last_sec = sec;
                last_second = sec_table[s_at];
            }
            found = table[at] = g->n_groups++;
            g->groups[found] = (GroupInfo){agent_id, sec, h, 0, 0};
            second_of[found] = last_second;
        }
        g->groups[found].count += 1;
        group_of[i] = found;
    }
    /* Each group's events together, in arrival order; groups in first-seen order. */
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < g->n_groups; k++) {
        g->groups[k].start = at;
        at += g->groups[k].count;
        g->groups[k].count = 0; /* counted again as filled */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        GroupInfo *info = &g->groups[group_of[i]];
        g->ordered[info->start + info->count++] = PyList_GET_ITEM(events, i);
    }
    /* The groups second after second, each second's in first-seen order. */
    memset(g->second_start, 0, sizeof(Py_ssize_t) * (size_t)(g->n_seconds + 1));
    for (Py_ssize_t k = 0; k < g->n_groups; k++)
        g->second_start[second_of[k] + 1] += 1;
    for (Py_ssize_t s_i = 0; s_i < g->n_seconds; s_i++)
        g->second_start[s_i + 1] += g->second_start[s_i];
    Py_ssize_t *fill = group_of; /* reused: each second's next free place */
    for (Py_ssize_t s_i = 0; s_i < g->n_seconds; s_i++)
        fill[s_i] = g->second_start[s_i];
    for (Py_ssize_t k = 0; k < g->n_groups; k++)
        g->by_second[fill[second_of[k]]++] = k;
    PyMem_Free(table);
    PyMem_Free(sec_table);
    PyMem_Free(group_of);
    PyMem_Free(second_of);
    return (PyObject *)g;
fail:
    PyMem_Free(table);
    PyMem_Free(sec_table);
    PyMem_Free(group_of);
    PyMem_Free(second_of);
    Py_DECREF(g);
    return NULL;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, setup_doc},
    {"add_second", add_second, METH_VARARGS, add_second_doc},
    {"group", group, METH_VARARGS, group_doc},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    s_empty = PyUnicode_InternFromString("");
    s_index = PyUnicode_InternFromString("_index");
    s_series_for = PyUnicode_InternFromString("series_for");
    s_reset = PyUnicode_InternFromString("reset");
    s_add_edge = PyUnicode_InternFromString("_add_edge");
    if (s_empty == NULL || s_index == NULL || s_series_for == NULL || s_reset == NULL || s_add_edge == NULL)
        return -1;
    if (PyType_Ready(&GroupingType) < 0)
        return -1;
    Py_INCREF(&GroupingType);
    if (PyModule_AddObject(module, "Grouping", (PyObject *)&GroupingType) < 0) {
        Py_DECREF(&GroupingType);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    "agentwatch.collector._windowscan",
    "The per-event pass of the window's aggregation, compiled (see window.py).",
    0,
    methods,
    slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__windowscan(void)
{
    return PyModuleDef_Init(&moduledef);
}
