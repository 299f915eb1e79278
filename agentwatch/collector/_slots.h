/* What both compiled passes share: reading and writing the object slots of slotted types (msgspec
   Structs, classes with __slots__) at their offsets, and comparing exact str. */

#ifndef AGENTWATCH_SLOTS_H
#define AGENTWATCH_SLOTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The object in the slot at ``off`` of ``obj`` (NULL: never set, or deleted). */
#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* The offset of ``type``'s object slot ``name`` (inherited slots too); -1 with TypeError if it is not one. */
static int
member_offset(PyTypeObject *type, const char *name, Py_ssize_t *out)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL)
        return -1;
    int ok = Py_TYPE(descr) == &PyMemberDescr_Type;
    PyMemberDef *member = ok ? ((PyMemberDescrObject *)descr)->d_member : NULL;
    Py_DECREF(descr); /* the type keeps it */
    if (!ok || (member->type != T_OBJECT_EX && member->type != T_OBJECT)) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *out = member->offset;
    return 0;
}

/* A slot's name and where its offset goes; a list of them ends with a NULL name. */
typedef struct {
    const char *name;
    Py_ssize_t *offset;
} SlotName;

/* The offsets of ``type``'s object slots ``names``; -1 with TypeError if one is not an object slot. */
static inline int
offsets_of(PyTypeObject *type, const SlotName *names)
{
    for (; names->name != NULL; names++) {
        if (member_offset(type, names->name, names->offset))
            return -1;
    }
    return 0;
}

/* a == b for two exact str. */
static inline int
str_equal(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (PyUnicode_GET_LENGTH(a) != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b))
        return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)PyUnicode_GET_LENGTH(a) * PyUnicode_KIND(a)) ==
           0;
}

/* a == b for any object a (false unless an exact str) and an exact str b. */
static inline int
str_is(PyObject *a, PyObject *b)
{
    return a == b || (PyUnicode_CheckExact(a) && str_equal(a, b));
}

#endif
