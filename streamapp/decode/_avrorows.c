/* Native reader for flat runs of primitive Avro fields (optional; see streamapp/decode/avroflat.py).
 *
 * read(buf, pos, program) -> (value_1, ..., value_n, new_pos)
 * skip(buf, pos, program) -> new_pos
 *
 * ``program`` is built once per writer schema by avroflat.program(): two bytes (little-endian)
 * with the number of fields n, then one opcode byte per field (fixed is followed by its size as
 * four little-endian bytes). Opcode = kind | flags:
 *   kind  0 null, 1 boolean, 2 int/long (zigzag varint), 3 float, 4 double, 5 bytes, 6 string,
 *         7 fixed
 *   0x10  optional: a ["null", T] union, the branch index is one byte (0 or 2)
 *   0x20  the null branch is index 1 (so the value branch is index 0)
 *   0x40  TOAST check: a string/bytes value equal to the placeholder becomes the UNCHANGED object
 *
 * Every value and every exception is what the generated pure-Python reader gives for the same
 * bytes (avroread.py / avroskip.py): IndexError for a byte read past the end, struct.error for a
 * float/double past the end, ValueError for a bad union index, an over-long varint or a negative
 * length, UnicodeDecodeError for bad UTF-8. Like Python slicing, bytes/string/fixed values past the
 * end are truncated and the position still advances by the declared length (the caller then sees
 * a position past the end). No byte outside the buffer is ever read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef __int128 pos_t; /* positions may pass the end by up to n * (2**63 - 1) */

enum { K_NULL, K_BOOL, K_LONG, K_FLOAT, K_DOUBLE, K_BYTES, K_STRING, K_FIXED };
#define F_OPTIONAL 0x10
#define F_NULL_SECOND 0x20
#define F_TOAST 0x40

static PyObject *struct_error;   /* struct.error */
static PyObject *unchanged;      /* streamapp.records.UNCHANGED, set by configure() */
static PyObject *placeholder;    /* bytes of Debezium's unavailable-value placeholder */

static int
index_error(void)
{
    PyErr_SetString(PyExc_IndexError, "index out of range");
    return -1;
}

static int
value_error(const char *what)
{
    PyErr_SetString(PyExc_ValueError, what);
    return -1;
}

/* The byte at pos, or -1 with IndexError set. */
static inline int
byte_at(const unsigned char *b, Py_ssize_t len, pos_t pos)
{
    if (pos >= (pos_t)len) {
        return index_error();
    }
    return b[(Py_ssize_t)pos];
}

/* A zigzag varint of at most 10 bytes (as avroread._varint); raw value in *out. */
static int
read_varint(const unsigned char *b, Py_ssize_t len, pos_t *pos, unsigned long long *out)
{
    int c = byte_at(b, len, *pos);
    if (c < 0) {
        return -1;
    }
    *pos += 1;
    unsigned long long x = (unsigned long long)(c & 127);
    if (!(c & 128)) {
        *out = x;
        return 0;
    }
    for (int shift = 7; shift <= 63; shift += 7) {
        c = byte_at(b, len, *pos);
        if (c < 0) {
            return -1;
        }
        *pos += 1;
        x |= (unsigned long long)(c & 127) << shift;
        if (shift == 63) {
            if (c >= 2) {
                return value_error("varint longer than 10 bytes");
            }
            break;
        }
        if (c < 128) {
            break;
        }
    }
    *out = x;
    return 0;
}

static inline long long
zigzag(unsigned long long x)
{
    return (long long)(x >> 1) ^ -(long long)(x & 1);
}

/* A bytes/string length (as the generated ``_n`` code and avroread._length). */
static int
read_length(const unsigned char *b, Py_ssize_t len, pos_t *pos, long long *n)
{
    int c = byte_at(b, len, *pos);
    if (c < 0) {
        return -1;
    }
    if (!(c & 129)) {
        *pos += 1;
        *n = c >> 1;
        return 0;
    }
    unsigned long long raw;
    if (read_varint(b, len, pos, &raw) < 0) {
        return -1;
    }
    *n = zigzag(raw);
    if (*n < 0) {
        return value_error("negative length");
    }
    return 0;
}

/* The union branch byte of an optional field: 1 value, 0 null, -1 error. */
static int
read_branch(const unsigned char *b, Py_ssize_t len, pos_t *pos, int op)
{
    int c = byte_at(b, len, *pos);
    if (c < 0) {
        return -1;
    }
    *pos += 1;
    int value_byte = (op & F_NULL_SECOND) ? 0 : 2;
    if (c == value_byte) {
        return 1;
    }
    if (c == 2 - value_byte) {
        return 0;
    }
    return value_error("union branch index out of range");
}

/* Python's buf[pos:pos + n] bounds: start and size of the slice, clamped to the buffer. */
static void
clamp(Py_ssize_t len, pos_t pos, long long n, Py_ssize_t *start, Py_ssize_t *size)
{
    pos_t s = pos < (pos_t)len ? pos : (pos_t)len;
    pos_t e = pos + n < (pos_t)len ? pos + n : (pos_t)len;
    *start = (Py_ssize_t)s;
    *size = e > s ? (Py_ssize_t)(e - s) : 0;
}

/* The fixed size that follows a fixed opcode at program[i]. */
static inline long long
fixed_size(const unsigned char *prog, Py_ssize_t i)
{
    return (long long)prog[i + 1] | ((long long)prog[i + 2] << 8) | ((long long)prog[i + 3] << 16) |
           ((long long)prog[i + 4] << 24);
}

static PyObject *
blob(const unsigned char *b, Py_ssize_t len, pos_t *pos, long long n, int kind, int toast)
{
    Py_ssize_t start, size;
    clamp(len, *pos, n, &start, &size);
    *pos += n;
    const char *p = (const char *)b + start;
    if (toast && placeholder != NULL && size == PyBytes_GET_SIZE(placeholder) &&
        memcmp(p, PyBytes_AS_STRING(placeholder), (size_t)size) == 0) {
        Py_INCREF(unchanged);
        return unchanged;
    }
    if (kind == K_STRING) {
        return PyUnicode_DecodeUTF8(p, size, NULL);
    }
    return PyBytes_FromStringAndSize(p, size);
}

/* One value of a present (non-null) field. */
static PyObject *
read_value(const unsigned char *b, Py_ssize_t len, pos_t *pos, const unsigned char *prog,
           Py_ssize_t i)
{
    int op = prog[i];
    int kind = op & 15;
    switch (kind) {
    case K_NULL:
        Py_RETURN_NONE;
    case K_BOOL: {
        int c = byte_at(b, len, *pos);
        if (c < 0) {
            return NULL;
        }
        *pos += 1;
        return PyBool_FromLong(c != 0);
    }
    case K_LONG: {
        unsigned long long raw;
        if (read_varint(b, len, pos, &raw) < 0) {
            return NULL;
        }
        return PyLong_FromLongLong(zigzag(raw));
    }
    case K_FLOAT:
    case K_DOUBLE: {
        int width = kind == K_FLOAT ? 4 : 8;
        if (*pos + width > (pos_t)len) {
            PyErr_Format(struct_error, "unpack_from requires a buffer of at least %d bytes",
                         width);
            return NULL;
        }
        const char *p = (const char *)b + (Py_ssize_t)*pos;
        double d = kind == K_FLOAT ? PyFloat_Unpack4(p, 1) : PyFloat_Unpack8(p, 1);
        if (d == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        *pos += width;
        return PyFloat_FromDouble(d);
    }
    case K_BYTES:
    case K_STRING: {
        long long n;
        if (read_length(b, len, pos, &n) < 0) {
            return NULL;
        }
        return blob(b, len, pos, n, kind, op & F_TOAST);
    }
    case K_FIXED:
        return blob(b, len, pos, fixed_size(prog, i), K_BYTES, 0);
    default:
        PyErr_SetString(PyExc_SystemError, "_avrorows: bad program opcode");
        return NULL;
    }
}

/* Advance past a present value (as avroskip: fixed widths are jumped over unread). */
static int
skip_value(const unsigned char *b, Py_ssize_t len, pos_t *pos, const unsigned char *prog,
           Py_ssize_t i)
{
    int kind = prog[i] & 15;
    long long n;
    int c;
    switch (kind) {
    case K_NULL:
        return 0;
    case K_BOOL:
        *pos += 1;
        return 0;
    case K_FLOAT:
        *pos += 4;
        return 0;
    case K_DOUBLE:
        *pos += 8;
        return 0;
    case K_FIXED:
        *pos += fixed_size(prog, i);
        return 0;
    case K_LONG:
        do {
            c = byte_at(b, len, *pos);
            if (c < 0) {
                return -1;
            }
            *pos += 1;
        } while (c & 128);
        return 0;
    case K_BYTES:
    case K_STRING:
        if (read_length(b, len, pos, &n) < 0) {
            return -1;
        }
        *pos += n;
        return 0;
    default:
        PyErr_SetString(PyExc_SystemError, "_avrorows: bad program opcode");
        return -1;
    }
}

static PyObject *
position(pos_t pos)
{
    if (pos <= (pos_t)LLONG_MAX) {
        return PyLong_FromLongLong((long long)pos);
    }
    /* only after a corrupt length: build the exact (huge) position as Python would */
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(pos >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)pos);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *result = NULL, *high = NULL;
    if (hi && lo && shift && (high = PyNumber_Lshift(hi, shift)) != NULL) {
        result = PyNumber_Or(high, lo);
    }
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    Py_XDECREF(high);
    return result;
}

/* Parse (buf, pos, program); the field count in *count. */
static int
parse_args(PyObject *const *args, Py_ssize_t nargs, const char *name, Py_ssize_t *pos,
           Py_ssize_t *count)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "%s() takes 3 arguments (buf, pos, program)", name);
        return -1;
    }
    if (!PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])) {
        PyErr_Format(PyExc_TypeError, "%s() needs bytes for buf and program", name);
        return -1;
    }
    *pos = PyLong_AsSsize_t(args[1]);
    if (*pos == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (*pos < 0) {
        PyErr_SetString(PyExc_ValueError, "negative position");
        return -1;
    }
    const unsigned char *prog = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    if (PyBytes_GET_SIZE(args[2]) < 2) {
        PyErr_SetString(PyExc_ValueError, "program too short");
        return -1;
    }
    *count = prog[0] | (prog[1] << 8);
    return 0;
}

static PyObject *
avrorows_read(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start, count;
    if (parse_args(args, nargs, "read", &start, &count) < 0) {
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    const unsigned char *prog = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t plen = PyBytes_GET_SIZE(args[2]);
    PyObject *out = PyTuple_New(count + 1);
    if (out == NULL) {
        return NULL;
    }
    pos_t pos = start;
    Py_ssize_t i = 2;
    for (Py_ssize_t f = 0; f < count; f++) {
        if (i >= plen) {
            PyErr_SetString(PyExc_ValueError, "program too short");
            goto fail;
        }
        int op = prog[i];
        PyObject *v;
        int present = 1;
        if (op & F_OPTIONAL) {
            present = read_branch(b, len, &pos, op);
            if (present < 0) {
                goto fail;
            }
        }
        if (present) {
            v = read_value(b, len, &pos, prog, i);
            if (v == NULL) {
                goto fail;
            }
        }
        else {
            v = Py_NewRef(Py_None);
        }
        PyTuple_SET_ITEM(out, f, v);
        i += (op & 15) == K_FIXED ? 5 : 1;
    }
    PyObject *end = position(pos);
    if (end == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, count, end);
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyObject *
avrorows_skip(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t start, count;
    if (parse_args(args, nargs, "skip", &start, &count) < 0) {
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t len = PyBytes_GET_SIZE(args[0]);
    const unsigned char *prog = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Py_ssize_t plen = PyBytes_GET_SIZE(args[2]);
    pos_t pos = start;
    Py_ssize_t i = 2;
    for (Py_ssize_t f = 0; f < count; f++) {
        if (i >= plen) {
            PyErr_SetString(PyExc_ValueError, "program too short");
            return NULL;
        }
        int op = prog[i];
        int present = 1;
        if (op & F_OPTIONAL) {
            present = read_branch(b, len, &pos, op);
            if (present < 0) {
                return NULL;
            }
        }
        if (present && skip_value(b, len, &pos, prog, i) < 0) {
            return NULL;
        }
        i += (op & 15) == K_FIXED ? 5 : 1;
    }
    return position(pos);
}

static PyObject *
avrorows_configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *ph, *unch;
    if (!PyArg_ParseTuple(args, "SO:configure", &ph, &unch)) {
        return NULL;
    }
    Py_XSETREF(placeholder, Py_NewRef(ph));
    Py_XSETREF(unchanged, Py_NewRef(unch));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read", (PyCFunction)(void (*)(void))avrorows_read, METH_FASTCALL,
     "read(buf, pos, program) -> (value, ..., new_pos): read a flat run of primitive fields."},
    {"skip", (PyCFunction)(void (*)(void))avrorows_skip, METH_FASTCALL,
     "skip(buf, pos, program) -> new_pos: advance past a flat run of primitive fields."},
    {"configure", avrorows_configure, METH_VARARGS,
     "configure(placeholder: bytes, unchanged): the TOAST placeholder and its replacement."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_avrorows",
    "Native reader for flat runs of primitive Avro fields (see streamapp.decode.avroflat).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__avrorows(void)
{
    PyObject *structmod = PyImport_ImportModule("struct");
    if (structmod == NULL) {
        return NULL;
    }
    struct_error = PyObject_GetAttrString(structmod, "error");
    Py_DECREF(structmod);
    if (struct_error == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
