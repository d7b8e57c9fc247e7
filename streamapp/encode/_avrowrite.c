/* Native writer for runs of primitive Avro values (optional; see streamapp/encode/avronative.py).
 *
 * write(out: bytearray, values: tuple, program: bytes) -> None
 *
 * ``program`` has one opcode per value: a byte (kind | flags), for a decimal followed by two
 * bytes, its precision (1..38) and scale (0..precision). Opcode byte = kind | flags:
 *   kind  1 long (int or bool, zigzag varint)   2 double (float)   3 boolean (True/False)
 *         4 string (str, length + UTF-8)        5 bytes (bytes, length + bytes)
 *         6 raw (bytes/bytearray appended as is: an encoding Python already made)
 *         7 date (days since 1970-01-01)        8 time (microseconds since midnight)
 *         9 timestamp (naive datetime -> microseconds since the epoch)
 *         10 timestamptz (datetime in UTC -> microseconds since the epoch)
 *         11 duration (timedelta -> microseconds)
 *         12 decimal (Decimal -> length + two's-complement unscaled bytes, rounded half up to
 *            the scale: what avrowrite._decimal_writer gives; the digits are read from str(v))
 *   0x40  a ["null", T] union: None writes branch 0, any other value branch 1 then the value
 *   0x80  a [T, "null"] union: None writes branch 1, any other value branch 0 then the value
 *
 * This is a fast path, not a second definition of the encoding: each kind accepts only the exact
 * Python types whose bytes it is sure of (no subclasses, no aware timestamp outside UTC, no
 * duration or int outside the 64-bit range) and raises for anything else. The caller then
 * discards what was written and re-runs the pure-Python writer, which gives the value's bytes or
 * the exception it documents. On error ``out`` is truncated to its length on entry. The only
 * Python-level call is str() of a Decimal (C code in CPython's _decimal); the values are a tuple (so
 * they stay alive and in place), and the output's size is re-checked after that call, so no write
 * ever goes past the buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>

enum { K_LONG = 1, K_DOUBLE, K_BOOL, K_STRING, K_BYTES, K_RAW, K_DATE, K_TIME, K_TS, K_TSTZ,
       K_DURATION, K_DECIMAL, K_LAST = K_DECIMAL };
#define F_NULL_FIRST 0x40
#define F_NULL_SECOND 0x80
#define KIND_MASK 0x3F
#define MAX_DURATION_DAYS 100000000 /* |micros| < 8.7e18 < 2**63: no overflow below this */
#define MAX_DECIMAL_DIGITS 30       /* the pure writer's scaleb is exact up to this many digits */
#define MAX_EXPONENT 1000

static PyObject *decimal_type; /* decimal.Decimal */

typedef struct {
    PyObject *out;      /* the bytearray */
    Py_ssize_t len;     /* bytes written so far (including what was there on entry) */
    Py_ssize_t cap;     /* current size of the bytearray */
} Buf;

/* Make room for n more bytes; returns the write pointer or NULL with an exception set. */
static inline char *
reserve(Buf *b, Py_ssize_t n)
{
    if (b->len + n > b->cap) {
        Py_ssize_t want = b->cap * 2;
        if (want < b->len + n + 64) {
            want = b->len + n + 64;
        }
        if (PyByteArray_Resize(b->out, want) < 0) {
            return NULL;
        }
        b->cap = want;
    }
    return PyByteArray_AS_STRING(b->out) + b->len;
}

static inline int
put_byte(Buf *b, char c)
{
    char *p = reserve(b, 1);
    if (p == NULL) {
        return -1;
    }
    *p = c;
    b->len += 1;
    return 0;
}

static inline int
put_long(Buf *b, int64_t v)
{
    uint64_t n = ((uint64_t)v << 1) ^ (0 - (uint64_t)(v < 0));
    char *p = reserve(b, 10), *start = p;
    if (p == NULL) {
        return -1;
    }
    while (n >= 0x80) {
        *p++ = (char)((n & 0x7F) | 0x80);
        n >>= 7;
    }
    *p++ = (char)n;
    b->len += p - start;
    return 0;
}

static inline int
put_sized(Buf *b, const char *data, Py_ssize_t size)
{
    char *p;
    if (put_long(b, (int64_t)size) < 0 || (p = reserve(b, size)) == NULL) {
        return -1;
    }
    memcpy(p, data, (size_t)size);
    b->len += size;
    return 0;
}

static int
refuse(const char *what)
{
    PyErr_Format(PyExc_TypeError, "native Avro writer: not a %s it writes; use the pure writer",
                 what);
    return -1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (date.toordinal() - 719163). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t
datetime_micros(PyObject *v)
{
    int64_t days = days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v),
                                   PyDateTime_GET_DAY(v));
    int64_t secs = days * 86400 + PyDateTime_DATE_GET_HOUR(v) * 3600
                   + PyDateTime_DATE_GET_MINUTE(v) * 60 + PyDateTime_DATE_GET_SECOND(v);
    return secs * 1000000 + PyDateTime_DATE_GET_MICROSECOND(v);
}

/* Decimal -> unscaled int rounded half up (ties away from zero) at ``scale``, as the pure
 * writer's scaleb + int + quantize(ROUND_HALF_UP) do for a value of at most 30 digits; then
 * the shortest-plus-sign-bit two's-complement bytes it writes. Refuses anything else. */
static int
put_decimal(Buf *b, PyObject *v, int precision, int scale)
{
    if (Py_TYPE(v) != (PyTypeObject *)decimal_type) {
        return refuse("Decimal");
    }
    PyObject *text = PyObject_Str(v); /* the only call that may run Python code (_pydecimal) */
    if (text == NULL) {
        return -1;
    }
    if (PyByteArray_GET_SIZE(b->out) != b->cap) {
        Py_DECREF(text);
        PyErr_SetString(PyExc_RuntimeError, "native Avro writer: output changed while writing");
        return -1;
    }
    Py_ssize_t len, i = 0;
    const char *s = PyUnicode_AsUTF8AndSize(text, &len);
    if (s == NULL) {
        Py_DECREF(text);
        return -1;
    }
    char digits[MAX_DECIMAL_DIGITS];
    int nd = 0, frac = 0, seen_point = 0, seen_digit = 0, negative = 0;
    int64_t exp = 0;
    if (i < len && s[i] == '-') {
        negative = 1, i++;
    }
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            seen_digit = 1;
            frac += seen_point;
            if (nd == 0 && c == '0') {
                continue; /* leading zeros carry no digit */
            }
            if (nd == MAX_DECIMAL_DIGITS) {
                goto refused;
            }
            digits[nd++] = (char)(c - '0');
        } else if (c == '.' && !seen_point) {
            seen_point = 1;
        } else {
            break;
        }
    }
    if (!seen_digit) {
        goto refused; /* NaN, sNaN, Infinity */
    }
    if (i < len) {
        int eneg = 0, edigits = 0;
        if (s[i] != 'E' && s[i] != 'e') {
            goto refused;
        }
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-', i++;
        }
        for (; i < len; i++, edigits++) {
            if (s[i] < '0' || s[i] > '9' || exp > MAX_EXPONENT) {
                goto refused;
            }
            exp = exp * 10 + (s[i] - '0');
        }
        if (!edigits) {
            goto refused;
        }
        exp = eneg ? -exp : exp;
    }
    Py_DECREF(text);
    /* value = digits * 10**(exp - frac); unscaled = value * 10**scale */
    int64_t shift = exp - frac + scale;
    __int128 u = 0, limit = 1;
    for (int k = 0; k < precision; k++) {
        limit *= 10;
    }
    int keep = nd;
    if (shift < 0) {
        keep = shift + nd < 0 ? 0 : (int)(shift + nd);
    } else if (nd > 0 && nd + shift > precision) {
        return refuse("Decimal that fits"); /* at least 10**precision */
    }
    for (int k = 0; k < keep; k++) {
        u = u * 10 + digits[k];
    }
    if (shift > 0 && nd > 0) {
        for (int64_t k = 0; k < shift; k++) {
            u *= 10;
        }
    }
    if (keep < nd && shift + nd >= 0 && digits[keep] >= 5) {
        u += 1; /* half up: the first dropped digit decides, ties away from zero */
    }
    if (u >= limit) {
        return refuse("Decimal that fits");
    }
    if (negative) {
        u = -u;
    }
    unsigned __int128 x = (unsigned __int128)u, mag = negative ? (unsigned __int128)-u : x;
    int bits = 0;
    while (mag >> bits) {
        bits++;
    }
    int nbytes = (bits + 8) / 8;
    char *p;
    if (put_long(b, nbytes) < 0 || (p = reserve(b, nbytes)) == NULL) {
        return -1;
    }
    for (int k = nbytes - 1; k >= 0; k--) {
        p[k] = (char)(x & 0xFF);
        x >>= 8;
    }
    b->len += nbytes;
    return 0;
refused:
    Py_DECREF(text);
    return refuse("finite Decimal of at most 30 digits");
}

/* Write one value of kind ``kind`` (no union branch); 0, or -1 with an exception set. */
static int
write_one(Buf *b, int kind, PyObject *v, int precision, int scale)
{
    switch (kind) {
    case K_LONG: {
        if (!PyLong_CheckExact(v) && !PyBool_Check(v)) {
            return refuse("int");
        }
        int overflow = 0;
        long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            return refuse("64-bit int");
        }
        if (n == -1 && PyErr_Occurred()) {
            return -1;
        }
        return put_long(b, (int64_t)n);
    }
    case K_DOUBLE: {
        if (!PyFloat_CheckExact(v)) {
            return refuse("float");
        }
        char *p = reserve(b, 8);
        if (p == NULL || PyFloat_Pack8(PyFloat_AS_DOUBLE(v), p, 1) < 0) {
            return -1;
        }
        b->len += 8;
        return 0;
    }
    case K_BOOL:
        if (v == Py_True || v == Py_False) {
            return put_byte(b, v == Py_True ? 1 : 0);
        }
        return refuse("bool");
    case K_STRING: {
        if (!PyUnicode_CheckExact(v)) {
            return refuse("str");
        }
        Py_ssize_t size;
        const char *s = PyUnicode_AsUTF8AndSize(v, &size);
        return s == NULL ? -1 : put_sized(b, s, size);
    }
    case K_BYTES:
        if (!PyBytes_CheckExact(v)) {
            return refuse("bytes");
        }
        return put_sized(b, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    case K_RAW: {
        const char *s;
        Py_ssize_t size;
        char *p;
        if (PyBytes_CheckExact(v)) {
            s = PyBytes_AS_STRING(v), size = PyBytes_GET_SIZE(v);
        } else if (PyByteArray_CheckExact(v) && v != b->out) {
            s = PyByteArray_AS_STRING(v), size = PyByteArray_GET_SIZE(v);
        } else {
            return refuse("bytes");
        }
        if ((p = reserve(b, size)) == NULL) {
            return -1;
        }
        memcpy(p, s, (size_t)size);
        b->len += size;
        return 0;
    }
    case K_DATE:
        if (!PyDate_CheckExact(v)) {
            return refuse("date");
        }
        return put_long(b, days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v),
                                           PyDateTime_GET_DAY(v)));
    case K_TIME:
        if (!PyTime_CheckExact(v)) {
            return refuse("time");
        }
        return put_long(b, ((PyDateTime_TIME_GET_HOUR(v) * (int64_t)60
                             + PyDateTime_TIME_GET_MINUTE(v)) * 60
                            + PyDateTime_TIME_GET_SECOND(v)) * 1000000
                               + PyDateTime_TIME_GET_MICROSECOND(v));
    case K_TS:
    case K_TSTZ: {
        if (!PyDateTime_CheckExact(v)) {
            return refuse("datetime");
        }
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(v);
        if (kind == K_TS ? tz != Py_None : tz != PyDateTime_TimeZone_UTC) {
            return refuse(kind == K_TS ? "naive datetime" : "UTC datetime");
        }
        return put_long(b, datetime_micros(v));
    }
    case K_DURATION: {
        if (!PyDelta_CheckExact(v)) {
            return refuse("timedelta");
        }
        int64_t days = PyDateTime_DELTA_GET_DAYS(v);
        if (days > MAX_DURATION_DAYS || days < -MAX_DURATION_DAYS) {
            return refuse("timedelta in range");
        }
        return put_long(b, (days * 86400 + PyDateTime_DELTA_GET_SECONDS(v)) * 1000000
                               + PyDateTime_DELTA_GET_MICROSECONDS(v));
    }
    case K_DECIMAL:
        return put_decimal(b, v, precision, scale);
    default:
        PyErr_SetString(PyExc_ValueError, "native Avro writer: bad program opcode");
        return -1;
    }
}

static PyObject *
avrowrite_write(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyByteArray_CheckExact(args[0]) || !PyBytes_CheckExact(args[2])
        || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write(out: bytearray, values: tuple, program: bytes)");
        return NULL;
    }
    PyObject *seq = args[1];
    Py_ssize_t n = PyTuple_GET_SIZE(seq), plen = PyBytes_GET_SIZE(args[2]), pc = 0;
    const unsigned char *prog = (const unsigned char *)PyBytes_AS_STRING(args[2]);
    Buf b = {args[0], PyByteArray_GET_SIZE(args[0]), PyByteArray_GET_SIZE(args[0])};
    Py_ssize_t start = b.len;
    for (Py_ssize_t i = 0; i < n; i++) {
        int precision = 0, scale = 0, rc;
        if (pc == plen) {
            goto mismatch;
        }
        int op = prog[pc++], kind = op & KIND_MASK;
        if (kind == K_DECIMAL) {
            if (plen - pc < 2 || prog[pc] < 1 || prog[pc] > 38 || prog[pc + 1] > prog[pc]) {
                goto mismatch;
            }
            precision = prog[pc], scale = prog[pc + 1], pc += 2;
        }
        PyObject *v = PyTuple_GET_ITEM(seq, i);
        if (op & (F_NULL_FIRST | F_NULL_SECOND)) {
            int null_first = (op & F_NULL_FIRST) != 0;
            if (v == Py_None) {
                rc = put_byte(&b, null_first ? 0 : 2);
            } else {
                rc = put_byte(&b, null_first ? 2 : 0);
                rc = rc < 0 ? rc : write_one(&b, kind, v, precision, scale);
            }
        } else {
            rc = write_one(&b, kind, v, precision, scale);
        }
        if (rc < 0) {
            goto failed;
        }
    }
    if (pc != plen) {
        goto mismatch;
    }
    if (b.cap != b.len && PyByteArray_Resize(args[0], b.len) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
mismatch:
    PyErr_SetString(PyExc_ValueError, "native Avro writer: program does not match the values");
failed: {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    (void)PyByteArray_Resize(args[0], start);
    PyErr_Restore(type, value, tb);
    return NULL;
}
}

static PyMethodDef methods[] = {
    {"write", (PyCFunction)(void (*)(void))avrowrite_write, METH_FASTCALL,
     "write(out, values, program) -> None: append the Avro encoding of a run of values."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_avrowrite",
    "Native writer for runs of primitive Avro values (see streamapp.encode.avronative).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__avrowrite(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    PyObject *decimal = PyImport_ImportModule("decimal");
    if (decimal == NULL) {
        return NULL;
    }
    decimal_type = PyObject_GetAttrString(decimal, "Decimal");
    Py_DECREF(decimal);
    if (decimal_type == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m != NULL && PyModule_AddIntConstant(m, "LAST_KIND", K_LAST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
