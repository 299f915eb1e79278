/* Ingest's per-event passes over a decoded batch, compiled: the common case of the checks
   (ingest._normalise_all's inline loop) and the log ring's columns (loghub's agent ids and
   loglines.log_ranks).  Each gives exactly what its Python loop gives, reading events at their slot
   offsets (an Event is a msgspec Struct: a fixed layout of object slots).  A batch holding anything
   but events of the types given at setup gets None back, before anything is changed, and its caller
   runs the Python loop.  Built where a C compiler is found at install (an optional extension). */

#include "_slots.h"

static PyTypeObject *event_type = NULL, *checked_type = NULL, *unchecked_type = NULL;
static Py_ssize_t off_agent_id, off_timestamp, off_span_type, off_model, off_tokens_input, off_tokens_output,
    off_cost_usd, off_error, off_level, off_attributes, off_payload, off_cost_estimated;
/* The length limits (in code points, as msgspec counts them) of the text fields of events decoded
   without them (unchecked_type): slot offset, least, most. */
#define MAX_TEXT_LIMITS 32
static struct {
    Py_ssize_t offset, least, most;
} text_limits[MAX_TEXT_LIMITS];
static Py_ssize_t n_text_limits = 0;
static PyObject *levels = NULL, *check_levels = NULL, *normalize_level = NULL, *estimate = NULL, *s_error = NULL, *s_heartbeat = NULL,
                *rank_error = NULL, *rank_debug = NULL, *rank_info = NULL;
static double max_timestamp, max_cost;
static PyObject *prices = NULL; /* pricing's table: model -> (input, output) USD per 1M tokens */

static void
keep(PyObject **slot, PyObject *value)
{
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
}

static int
event_offsets(PyTypeObject *type)
{
    struct {
        const char *name;
        Py_ssize_t *offset;
    } slots[] = {
        {"agent_id", &off_agent_id}, {"timestamp", &off_timestamp}, {"span_type", &off_span_type},
        {"model", &off_model}, {"tokens_input", &off_tokens_input}, {"tokens_output", &off_tokens_output},
        {"cost_usd", &off_cost_usd}, {"error", &off_error}, {"level", &off_level},
        {"attributes", &off_attributes}, {"payload", &off_payload}, {"cost_estimated", &off_cost_estimated},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        Py_ssize_t offset;
        if (member_offset(type, slots[i].name, &offset))
            return -1;
        if (event_type != NULL && offset != *slots[i].offset) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not where Event keeps it", type->tp_name, slots[i].name);
            return -1;
        }
        *slots[i].offset = offset;
    }
    return 0;
}

PyDoc_STRVAR(setup_event_doc, "setup_event(Event)\n--\n\nLearn Event's slot layout (for token_sources and replace).");

static PyObject *
setup_event(PyObject *module, PyObject *ev)
{
    if (!PyType_Check(ev)) {
        PyErr_SetString(PyExc_TypeError, "Event must be a type");
        return NULL;
    }
    if ((event_type != NULL && (PyObject *)event_type != ev) || event_offsets((PyTypeObject *)ev))
        return NULL;
    keep((PyObject **)&event_type, ev);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(setup_log_doc, "setup_log(Event, level_rank, normalize_level, span_error, span_heartbeat, "
                            "rank_error, rank_debug, rank_info)\n--\n\n"
                            "Learn Event's slot layout and the log levels' ranks (for log_rows).");

static PyObject *
setup_log(PyObject *module, PyObject *args)
{
    PyObject *ev, *level_rank, *normalize_fn, *error, *heartbeat, *r_error, *r_debug, *r_info;
    if (!PyArg_ParseTuple(args, "O!O!OUUO!O!O!", &PyType_Type, &ev, &PyDict_Type, &level_rank, &normalize_fn,
                          &error, &heartbeat, &PyLong_Type, &r_error, &PyLong_Type, &r_debug, &PyLong_Type,
                          &r_info))
        return NULL;
    if ((event_type != NULL && (PyObject *)event_type != ev) || event_offsets((PyTypeObject *)ev))
        return NULL;
    keep((PyObject **)&event_type, ev);
    keep(&levels, level_rank);
    keep(&normalize_level, normalize_fn);
    keep(&s_error, error);
    keep(&s_heartbeat, heartbeat);
    keep(&rank_error, r_error);
    keep(&rank_debug, r_debug);
    keep(&rank_info, r_info);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(setup_checks_doc,
             "setup_checks(Event, CheckedEvent, UncheckedEvent, text_limits, level_rank, max_timestamp, "
             "estimate_cost, prices, max_cost)\n--\n\n"
             "Learn the decoded events' types and ingest's limits (for normalise). ``text_limits``: a tuple of "
             "(field name, least, most) code points, the limits CheckedEvent has and UncheckedEvent has not; "
             "``prices``: the price table estimate_cost looks a model up in first, ``max_cost`` the most an "
             "estimate may be.");

static int
same_layout(PyObject *sub, PyObject *ev)
{
    if (!PyType_IsSubtype((PyTypeObject *)sub, (PyTypeObject *)ev) ||
        ((PyTypeObject *)sub)->tp_basicsize != ((PyTypeObject *)ev)->tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "CheckedEvent and UncheckedEvent must be Event with the same layout");
        return 0;
    }
    return 1;
}

static PyObject *
setup_checks(PyObject *module, PyObject *args)
{
    PyObject *ev, *checked, *unchecked, *limits, *level_rank, *estimate_fn, *price_table;
    double max_ts, most_cost;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!dOO!d", &PyType_Type, &ev, &PyType_Type, &checked, &PyType_Type,
                          &unchecked, &PyTuple_Type, &limits, &PyDict_Type, &level_rank, &max_ts, &estimate_fn,
                          &PyDict_Type, &price_table, &most_cost))
        return NULL;
    if (!same_layout(checked, ev) || !same_layout(unchecked, ev))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(limits);
    struct {
        Py_ssize_t offset, least, most;
    } found[MAX_TEXT_LIMITS];
    if (n > MAX_TEXT_LIMITS) {
        PyErr_SetString(PyExc_ValueError, "too many text limits");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        const char *name;
        Py_ssize_t least, most, offset, event_offset;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(limits, k), "snn;a text limit is (field name, least, most)", &name,
                              &least, &most))
            return NULL;
        if (member_offset((PyTypeObject *)unchecked, name, &offset) ||
            member_offset((PyTypeObject *)ev, name, &event_offset))
            return NULL;
        if (offset != event_offset) {
            PyErr_Format(PyExc_TypeError, "UncheckedEvent.%s is not where Event keeps it", name);
            return NULL;
        }
        found[k].offset = offset; /* kept only once everything is learnt */
        found[k].least = least;
        found[k].most = most;
    }
    if ((event_type != NULL && (PyObject *)event_type != ev) || event_offsets((PyTypeObject *)ev))
        return NULL;
    keep((PyObject **)&event_type, ev);
    if (event_offsets((PyTypeObject *)checked) || event_offsets((PyTypeObject *)unchecked)) /* the same offsets */
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        text_limits[k].offset = found[k].offset;
        text_limits[k].least = found[k].least;
        text_limits[k].most = found[k].most;
    }
    n_text_limits = n;
    keep((PyObject **)&checked_type, checked);
    keep((PyObject **)&unchecked_type, unchecked);
    keep(&check_levels, level_rank);
    keep(&estimate, estimate_fn);
    keep(&prices, price_table);
    max_timestamp = max_ts;
    max_cost = most_cost;
    Py_RETURN_NONE;
}

/* Whether the passes read this event as the Python loops do: every field they read set (a field
   deleted with ``del`` is NULL, which the Python loops raise AttributeError for) and its text fields
   exact str or None (a str subclass may compare as Python's == would not here). Decoded events
   always are; the passes leave a batch with any other to the Python loops. */
static inline int
fields_set(PyObject *e)
{
    PyObject *agent_id = SLOT(e, off_agent_id), *span_type = SLOT(e, off_span_type), *level = SLOT(e, off_level),
             *model = SLOT(e, off_model), *error = SLOT(e, off_error);
    if (agent_id == NULL || !PyUnicode_CheckExact(agent_id))
        return 0;
    PyObject *texts[] = {span_type, level, model, error};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        if (texts[k] == NULL || (texts[k] != Py_None && !PyUnicode_CheckExact(texts[k])))
            return 0;
    }
    static const Py_ssize_t *offsets[] = {&off_agent_id, &off_timestamp, &off_span_type, &off_model,
                                          &off_tokens_input, &off_tokens_output, &off_cost_usd, &off_error,
                                          &off_level, &off_attributes, &off_payload};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        if (SLOT(e, *offsets[k]) == NULL)
            return 0;
    }
    return 1;
}

/* fields_set for normalise, which reads no text but agent_id, span_type and level (``model`` only
   against None, and it prices an exact str only): the others are not looked at, so that their objects
   are not fetched. */
static inline int
checks_apply(PyObject *e)
{
    PyObject *agent_id = SLOT(e, off_agent_id), *span_type = SLOT(e, off_span_type), *level = SLOT(e, off_level);
    if (agent_id == NULL || !PyUnicode_CheckExact(agent_id) || span_type == NULL ||
        (span_type != Py_None && !PyUnicode_CheckExact(span_type)) || level == NULL ||
        (level != Py_None && !PyUnicode_CheckExact(level)))
        return 0;
    static const Py_ssize_t *offsets[] = {&off_timestamp, &off_model, &off_tokens_input, &off_tokens_output,
                                          &off_cost_usd, &off_error, &off_attributes, &off_payload};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        if (SLOT(e, *offsets[k]) == NULL)
            return 0;
    }
    return 1;
}

/* ``s.strip() is s`` for an exact str: no whitespace at either end (an empty str is itself). */
static inline int
unstripped(PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n == 0)
        return 1;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    return !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, 0)) && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, n - 1));
}

/* Whether an event decoded without the text limits breaks one: 1 when a text field is outside its
   limits, 0 when none is, -1 when a field is neither None, a float nor an exact str (or not set): not
   a decoded event's, so the batch is the Python loop's. */
static inline int
over_text_limits(PyObject *e)
{
    int over = 0;
    for (Py_ssize_t k = 0; k < n_text_limits; k++) {
        PyObject *value = SLOT(e, text_limits[k].offset);
        if (value == NULL)
            return -1;
        if (value == Py_None || PyFloat_CheckExact(value)) /* a timestamp's number */
            continue;
        if (!PyUnicode_CheckExact(value))
            return -1;
        Py_ssize_t n = PyUnicode_GET_LENGTH(value);
        over |= n < text_limits[k].least || n > text_limits[k].most;
    }
    return over;
}

/* ``_estimate_cost(e)`` for a model the price table holds itself, as pricing.estimate_cost computes it,
   operation for operation (each product rounded on its own, as Python rounds it): 1 when done, 0 when
   it is left to the Python call (another model, a price or count of another type, a count beyond a
   double), -1 on error. */
static int
estimate_here(PyObject *e, PyObject *model, PyObject *ti, PyObject *to)
{
    if (!PyUnicode_CheckExact(model) || PyUnicode_GET_LENGTH(model) == 0)
        return 0;
    PyObject *price = PyDict_GetItemWithError(prices, model); /* borrowed */
    if (price == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyTuple_CheckExact(price) || PyTuple_GET_SIZE(price) != 2 || !PyFloat_CheckExact(PyTuple_GET_ITEM(price, 0)) ||
        !PyFloat_CheckExact(PyTuple_GET_ITEM(price, 1)))
        return 0;
    PyObject *tokens[2] = {ti, to};
    double counts[2];
    for (int k = 0; k < 2; k++) {
        if (tokens[k] == Py_None) {
            counts[k] = 0.0; /* ``(tokens or 0)`` */
            continue;
        }
        if (!PyLong_CheckExact(tokens[k]))
            return 0;
        counts[k] = PyLong_AsDouble(tokens[k]);
        if (counts[k] == -1.0 && PyErr_Occurred()) { /* too large: Python raises it, as it would */
            PyErr_Clear();
            return 0;
        }
    }
    volatile double in_part = counts[0] * PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(price, 0));
    volatile double out_part = counts[1] * PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(price, 1));
    double cost = (in_part + out_part) / 1e6;
    if (!(cost <= max_cost))
        return 1;
    PyObject *value = PyFloat_FromDouble(cost);
    if (value == NULL)
        return -1;
    Py_XSETREF(SLOT(e, off_cost_usd), value);
    keep(&SLOT(e, off_cost_estimated), Py_True);
    return 1;
}

/* ----------------------------------------------------------------------------- the checks */
PyDoc_STRVAR(normalise_doc,
             "normalise(events, now)\n--\n\n"
             "ingest._normalise_common, compiled: each event with nothing to fix but a missing timestamp or "
             "cost becomes an Event (stamped ``now``, its cost estimated); returns (bags, holders, odd): the "
             "attributes and payloads of those of them that have any, those events, and the events left for "
             "_normalise. False (nothing changed) when an event decoded without the text limits has a text "
             "outside them; None (nothing changed) when the list holds anything but decoded events.");

static PyObject *
normalise(PyObject *module, PyObject *args)
{
    PyObject *events, *now_obj;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &events, &now_obj))
        return NULL;
    if (checked_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_checks() was not called");
        return NULL;
    }
    if (!PyFloat_CheckExact(now_obj))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(events);
    int over = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        PyTypeObject *type = Py_TYPE(e);
        if ((type != checked_type && type != event_type && type != unchecked_type) || !checks_apply(e))
            Py_RETURN_NONE;
        if (type == unchecked_type) {
            int found = over_text_limits(e);
            if (found < 0)
                Py_RETURN_NONE;
            over |= found;
        }
    }
    if (over)
        Py_RETURN_FALSE;
    PyObject *bags = PyList_New(0), *holders = PyList_New(0), *odd = PyList_New(0);
    if (bags == NULL || holders == NULL || odd == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        PyObject *span_type = SLOT(e, off_span_type), *level = SLOT(e, off_level);
        PyObject *timestamp = SLOT(e, off_timestamp), *agent_id = SLOT(e, off_agent_id);
        int common = span_type != NULL && span_type != Py_None && PyUnicode_CheckExact(span_type) &&
                     PyUnicode_GET_LENGTH(span_type) > 0 && agent_id != NULL && PyUnicode_CheckExact(agent_id) &&
                     timestamp != NULL && level != NULL;
        if (common && level != Py_None) {
            int known = PyUnicode_CheckExact(level) ? PyDict_Contains(check_levels, level) : 0;
            if (known < 0)
                goto fail;
            common = known;
        }
        if (common && timestamp != Py_None) {
            common = PyFloat_CheckExact(timestamp) && 0.0 <= PyFloat_AS_DOUBLE(timestamp) &&
                     PyFloat_AS_DOUBLE(timestamp) < max_timestamp;
        }
        if (common)
            common = unstripped(agent_id);
        if (!common) {
            if (PyList_Append(odd, e))
                goto fail;
            continue;
        }
        if (Py_TYPE(e) != event_type) { /* as ``event.__class__ = Event`` does for a heap type */
            PyTypeObject *old = Py_TYPE(e);
            Py_INCREF(event_type);
            Py_SET_TYPE(e, event_type);
            Py_DECREF(old);
        }
        PyObject *attributes = SLOT(e, off_attributes), *payload = SLOT(e, off_payload);
        int has_attributes = attributes != Py_None, has_payload = payload != Py_None;
        if (has_attributes || has_payload) {
            if (PyList_Append(holders, e) || (has_attributes && PyList_Append(bags, attributes)) ||
                (has_payload && PyList_Append(bags, payload)))
                goto fail;
        }
        if (timestamp == Py_None) {
            Py_INCREF(now_obj);
            SLOT(e, off_timestamp) = now_obj;
            Py_DECREF(timestamp);
        }
        PyObject *cost = SLOT(e, off_cost_usd), *model = SLOT(e, off_model);
        PyObject *ti = SLOT(e, off_tokens_input), *to = SLOT(e, off_tokens_output);
        if (cost == Py_None && model != NULL && model != Py_None &&
            ((ti != NULL && ti != Py_None) || (to != NULL && to != Py_None))) {
            int done_here = estimate_here(e, model, ti, to);
            if (done_here < 0)
                goto fail;
            if (!done_here) {
                PyObject *done = PyObject_CallOneArg(estimate, e);
                if (done == NULL)
                    goto fail;
                Py_DECREF(done);
            }
        }
    }
    PyObject *result = PyTuple_Pack(3, bags, holders, odd);
    Py_DECREF(bags);
    Py_DECREF(holders);
    Py_DECREF(odd);
    return result;
fail:
    Py_XDECREF(bags);
    Py_XDECREF(holders);
    Py_XDECREF(odd);
    return NULL;
}

/* ------------------------------------------------------------------------ the log's columns */
PyDoc_STRVAR(log_rows_doc,
             "log_rows(events)\n--\n\n"
             "(agent ids, log ranks) of a batch, as loghub and loglines.log_ranks make them; None when the "
             "sequence holds anything but Events.");

static PyObject *
log_rows(PyObject *module, PyObject *events)
{
    if (levels == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_log() was not called");
        return NULL;
    }
    if (!PyList_CheckExact(events) && !PyTuple_CheckExact(events))
        Py_RETURN_NONE;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(events);
    PyObject **items = PySequence_Fast_ITEMS(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (Py_TYPE(items[i]) != event_type || !fields_set(items[i]))
            Py_RETURN_NONE;
    }
    PyObject *agents = PyList_New(n), *ranks = PyList_New(n);
    if (agents == NULL || ranks == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = items[i];
        PyObject *agent_id = SLOT(e, off_agent_id), *level = SLOT(e, off_level);
        if (agent_id == NULL || level == NULL) {
            PyErr_SetString(PyExc_AttributeError, "an event without agent_id or level");
            goto fail;
        }
        Py_INCREF(agent_id);
        PyList_SET_ITEM(agents, i, agent_id);
        PyObject *rank;
        if (level == Py_None) {
            PyObject *span_type = SLOT(e, off_span_type), *error = SLOT(e, off_error);
            if ((error != NULL && error != Py_None) || (span_type != NULL && str_is(span_type, s_error)))
                rank = rank_error;
            else if (span_type != NULL && str_is(span_type, s_heartbeat))
                rank = rank_debug;
            else
                rank = rank_info;
            Py_INCREF(rank);
        } else {
            rank = PyDict_GetItemWithError(levels, level); /* borrowed */
            if (rank != NULL) {
                Py_INCREF(rank);
            } else {
                if (PyErr_Occurred())
                    goto fail;
                PyObject *name = PyObject_CallOneArg(normalize_level, level);
                if (name == NULL)
                    goto fail;
                rank = PyObject_GetItem(levels, name); /* new reference; KeyError as Python would */
                Py_DECREF(name);
                if (rank == NULL)
                    goto fail;
            }
        }
        PyList_SET_ITEM(ranks, i, rank);
    }
    PyObject *result = PyTuple_Pack(2, agents, ranks);
    Py_DECREF(agents);
    Py_DECREF(ranks);
    return result;
fail:
    Py_XDECREF(agents);
    Py_XDECREF(ranks);
    return NULL;
}

/* -------------------------------------------------------------------------- token sources */
PyDoc_STRVAR(token_sources_doc,
             "token_sources(events, metric_span, session_keys)\n--\n\n"
             "precedence.TokenSources.note's pass: the (agent id, session or None) of each event that carries "
             "token counts and is not a metric's, each once, in the order they first appear; None when the "
             "list holds anything but Events.");

static PyObject *
token_sources(PyObject *module, PyObject *args)
{
    PyObject *events, *metric, *keys;
    if (!PyArg_ParseTuple(args, "O!UO!", &PyList_Type, &events, &metric, &PyTuple_Type, &keys))
        return NULL;
    if (event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "setup_event() was not called");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(events);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        if (Py_TYPE(e) != event_type || !fields_set(e))
            Py_RETURN_NONE;
        PyObject *attributes = SLOT(e, off_attributes);
        if (attributes != Py_None && !PyDict_CheckExact(attributes))
            Py_RETURN_NONE;
    }
    /* As note() does: events without a session key are deduplicated by agent, the others by source,
       each set on its own (so (agent, None) can be noted once by each). */
    PyObject *sources = PyList_New(0), *plain = PySet_New(NULL), *keyed = PySet_New(NULL), *blank = NULL;
    PyObject *source = NULL, *session = NULL;
    if (sources == NULL || plain == NULL || keyed == NULL || (blank = PyUnicode_FromStringAndSize("", 0)) == NULL)
        goto fail;
    Py_ssize_t n_keys = PyTuple_GET_SIZE(keys);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(events, i);
        PyObject *ti = SLOT(e, off_tokens_input), *to = SLOT(e, off_tokens_output);
        if ((ti == NULL || ti == Py_None) && (to == NULL || to == Py_None))
            continue;
        PyObject *span_type = SLOT(e, off_span_type);
        if (span_type != NULL && span_type != Py_None && str_is(span_type, metric))
            continue;
        PyObject *attributes = SLOT(e, off_attributes), *agent_id = SLOT(e, off_agent_id);
        int has_key = 0;
        session = Py_None;
        Py_INCREF(session);
        if (attributes != Py_None && PyDict_GET_SIZE(attributes)) {
            for (Py_ssize_t k = 0; k < n_keys; k++) { /* session_of, inline */
                PyObject *value = PyDict_GetItemWithError(attributes, PyTuple_GET_ITEM(keys, k));
                if (value == NULL) {
                    if (PyErr_Occurred())
                        goto fail;
                    continue;
                }
                has_key = 1;
                if (value == Py_None)
                    continue;
                int is_blank = PyUnicode_CheckExact(value) ? PyUnicode_GET_LENGTH(value) == 0
                                                          : PyObject_RichCompareBool(value, blank, Py_EQ);
                if (is_blank < 0)
                    goto fail;
                if (is_blank)
                    continue;
                PyObject *text = PyUnicode_CheckExact(value) ? Py_NewRef(value) : PyObject_Str(value);
                if (text == NULL)
                    goto fail;
                Py_SETREF(session, text);
                break;
            }
        }
        if (!has_key) { /* deduplicated by agent */
            int known = PySet_Contains(plain, agent_id);
            if (known < 0)
                goto fail;
            Py_CLEAR(session);
            if (known)
                continue;
            if (PySet_Add(plain, agent_id))
                goto fail;
            source = PyTuple_Pack(2, agent_id, Py_None);
        } else {
            source = PyTuple_Pack(2, agent_id, session);
            Py_CLEAR(session);
            if (source == NULL)
                goto fail;
            int known = PySet_Contains(keyed, source);
            if (known < 0)
                goto fail;
            if (known) {
                Py_CLEAR(source);
                continue;
            }
            if (PySet_Add(keyed, source))
                goto fail;
        }
        if (source == NULL || PyList_Append(sources, source))
            goto fail;
        Py_CLEAR(source);
    }
    Py_DECREF(plain);
    Py_DECREF(keyed);
    Py_DECREF(blank);
    return sources;
fail:
    Py_XDECREF(source);
    Py_XDECREF(session);
    Py_XDECREF(sources);
    Py_XDECREF(plain);
    Py_XDECREF(keyed);
    Py_XDECREF(blank);
    return NULL;
}

/* -------------------------------------------------------------------- the ring's replacement */
#define PREFETCH_AHEAD 16
/* The header of the allocator's pool an object lies in, which freeing it writes (pools are 16 KiB,
   aligned, in CPython 3.10 and later; a wrong guess costs only a useless prefetch). */
#define POOL_OF(p) ((const void *)((uintptr_t)(p) & ~(uintptr_t)(16 * 1024 - 1)))

/* Prefetch what freeing an old entry will touch: the event, then each of its field objects. */
static inline void
prefetch_entry(PyObject *old, int depth)
{
    if (depth == 0) {
        __builtin_prefetch(old, 1);
        return;
    }
    if (Py_TYPE(old) != event_type)
        return;
    static const Py_ssize_t *offsets[] = {&off_agent_id, &off_timestamp, &off_span_type, &off_model,
                                          &off_tokens_input, &off_tokens_output, &off_cost_usd, &off_error,
                                          &off_level, &off_attributes, &off_payload};
    __builtin_prefetch(POOL_OF(old), 1);
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        PyObject *field = SLOT(old, *offsets[k]);
        if (field != NULL && field != Py_None) {
            __builtin_prefetch(field, 1);
            __builtin_prefetch(POOL_OF(field), 1);
        }
    }
}

PyDoc_STRVAR(replace_doc,
             "replace(ring, start, items)\n--\n\n"
             "``ring[start:start + len(items)] = items`` for a list ``ring`` and a list ``items`` that fits, "
             "the old entries' memory fetched ahead of freeing them (they are long out of the cache).");

static PyObject *
replace(PyObject *module, PyObject *args)
{
    PyObject *ring, *items;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "O!nO!", &PyList_Type, &ring, &start, &PyList_Type, &items))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (start < 0 || start > PyList_GET_SIZE(ring) || n > PyList_GET_SIZE(ring) - start) {
        PyErr_SetString(PyExc_IndexError, "items do not fit in the ring at start");
        return NULL;
    }
    if (ring == items) {
        PyErr_SetString(PyExc_ValueError, "ring and items must differ");
        return NULL;
    }
    PyObject **slots = ((PyListObject *)ring)->ob_item + start;
    PyObject **fresh = ((PyListObject *)items)->ob_item;
    /* The entries leave the ring before any is freed: a destructor that ran Python code would
       otherwise see a half-written ring. */
    PyObject **old = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(PyObject *));
    if (old == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        old[i] = slots[i];
        Py_INCREF(fresh[i]);
        slots[i] = fresh[i];
    }
    for (Py_ssize_t i = 0; i < n && i < 2 * PREFETCH_AHEAD; i++)
        prefetch_entry(old[i], 0);
    for (Py_ssize_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
        prefetch_entry(old[i], 1);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 2 * PREFETCH_AHEAD < n)
            prefetch_entry(old[i + 2 * PREFETCH_AHEAD], 0);
        if (i + PREFETCH_AHEAD < n)
            prefetch_entry(old[i + PREFETCH_AHEAD], 1);
        Py_XDECREF(old[i]);
    }
    PyMem_Free(old);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup_event", setup_event, METH_O, setup_event_doc},
    {"setup_log", setup_log, METH_VARARGS, setup_log_doc},
    {"setup_checks", setup_checks, METH_VARARGS, setup_checks_doc},
    {"normalise", normalise, METH_VARARGS, normalise_doc},
    {"log_rows", log_rows, METH_O, log_rows_doc},
    {"replace", replace, METH_VARARGS, replace_doc},
    {"token_sources", token_sources, METH_VARARGS, token_sources_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "agentwatch.collector._ingestscan",
    "Ingest's per-event passes over a decoded batch, compiled (see ingest.py and loghub.py).",
    0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__ingestscan(void)
{
    return PyModuleDef_Init(&moduledef);
}
