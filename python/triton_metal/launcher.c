/*
 * launcher.c: the launch path of @jit kernels, without Python code per launch.
 *
 *   kernel[grid](*args, **kw)
 *     JITFunction is a Python subclass of Dispatcher; kernel[grid] makes a
 *     Launcher (dispatcher, grid); calling it runs dispatch():
 *       bind    positional and keyword arguments to parameters, defaults;
 *               keywords that name no parameter are launch options
 *       key     one flat tuple: per parameter either a small-int code (see
 *               K_* below: scalar class with upstream's specialization, or a
 *               pointer's dtype/alignment/readonly) or a (type, value) pair for
 *               compile-time values; then OPTS and the options' names and values
 *       lookup  Dispatcher.fast_cache: key -> (CompiledKernel, Module)
 *       launch  tmpy_launch (GIL released around tm_launch)
 *
 * Whatever the fast path does not handle goes to the Python method
 * JITFunction._slow_run(grid, args, kwargs, key): a cache miss, an argument
 * kind not handled here, anything to explain in an error. _slow_run binds and
 * specializes in Python (jit.py, the reference rules), compiles or reads the
 * disk cache, launches, and stores (compiled, module) under key, so the next
 * launch with the same key stays here. A key is a prefix code: the width of
 * each parameter's entry follows from its first item, so two different
 * argument lists never make equal keys.
 */
#include <string.h>

#include "_C.h"

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_READONLY READONLY
#endif

/* Parameters and options handled on the fast path; more take the slow path. */
#define MAX_PARAMS 64
#define MAX_OPTS 16

/* Per-parameter flags given by jit.py (Dispatcher._configure). */
enum {
  F_CONSTEXPR = 1,   /* annotated tl.constexpr */
  F_SPEC_VALUE = 2,  /* an int equal to 1 becomes the constant 1 */
  F_SPEC_ALIGN = 4,  /* an int divisible by 16 is marked DIV16 */
  F_PTR_ALIGN = 8,   /* a 16-byte aligned pointer is marked DIV16 */
  F_HAS_DEFAULT = 16
};

/* Key codes of runtime arguments (small ints: CPython keeps them cached). */
enum {
  K_I32 = 0, K_I32_D16, K_I64, K_I64_D16, K_U64, K_U64_D16,
  K_ONE,   /* int 1, specialized as a constant */
  K_F32,   /* Python float */
  K_BOOL,  /* Python bool */
  K_PTR = 16, /* + dtype * 4 + div16 * 2 + readonly */
  K_DPTR = 1024 /* the same for device memory (a torch CUDA tensor) */
};

/* ------------------------------------------------------------------ pointers */

/* Set by jit.py (_C.set_pointer_types): torch.Tensor and {torch dtype: tm_dtype}. */
static PyObject *tensor_type;
static PyObject *tensor_dtypes;
static PyObject *s_is_cpu, *s_untyped_storage, *s_base, *s_dtype, *s_data_ptr, *s_nbytes,
    *s_slow_run, *s_is_cuda, *s_get_device;
static PyObject *OPTS;
static PyObject *ALIAS; /* key item: two pointer arguments share memory (order.c orders across them) */

/* Whether two of the pointer arguments' allocations overlap. */
static int args_overlap(const PtrArg *ptrs, const PyObject *const *vals, const unsigned *is_ptr, Py_ssize_t n) {
  for (Py_ssize_t i = 0; i < n; i++) {
    if (!is_ptr[i])
      continue;
    uintptr_t lo = (uintptr_t)ptrs[i].ptr - ptrs[i].before, hi = (uintptr_t)ptrs[i].ptr + ptrs[i].nbytes;
    for (Py_ssize_t j = i + 1; j < n; j++) {
      /* as jit._overlapping: device memory overlaps only views of the same
       * buffer (a CUDA tensor's storage), never host memory */
      if (!is_ptr[j] || ptrs[i].buffer != ptrs[j].buffer)
        continue;
      uintptr_t lo2 = (uintptr_t)ptrs[j].ptr - ptrs[j].before, hi2 = (uintptr_t)ptrs[j].ptr + ptrs[j].nbytes;
      if (lo < hi2 && lo2 < hi)
        return 1;
    }
  }
  (void)vals;
  return 0;
}
/* Registrations of kernel-visible Metal memory (visible.py): while there are
 * any, launches take the Python path, which synchronizes them. */
static long visible_device_views;

/* tm_dtype of a buffer-protocol format ("f", "<i", "=q", ...), TM_VOID if none. */
static tm_dtype format_dtype(const char *f, Py_ssize_t itemsize) {
  if (!f)
    return itemsize == 1 ? TM_U8 : TM_VOID;
  while (*f == '@' || *f == '=' || *f == '<' || *f == '|')
    f++; /* native or little-endian (every host we run on) */
  if (!f[0] || f[1])
    return TM_VOID;
  switch (f[0]) {
  case '?': return TM_I1;
  case 'b': return TM_I8;
  case 'B': return TM_U8;
  case 'h': return TM_I16;
  case 'H': return TM_U16;
  case 'i': case 'l': case 'q':
    return itemsize == 4 ? TM_I32 : itemsize == 8 ? TM_I64 : TM_VOID;
  case 'I': case 'L': case 'Q':
    return itemsize == 4 ? TM_U32 : itemsize == 8 ? TM_U64 : TM_VOID;
  case 'e': return TM_F16;
  case 'f': return TM_F32;
  case 'd': return TM_F64;
  }
  return TM_VOID;
}

/* Where a pointer argument's memory comes from.
 *
 * A kernel gets a view's data pointer, as upstream passes it, and addresses
 * elements through the strides it is given: a transposed or sliced view, a
 * NumPy view with negative strides (its data pointer is its last byte in
 * memory order) or an expanded one (zero strides) are ordinary arguments. The
 * kernel may address the whole allocation the view lives in, on either side of
 * the data pointer, so the runtime gets that allocation (PtrArg.before /
 * nbytes around ptr) and checks every access against it:
 *
 *   torch       the tensor's storage: untyped_storage().data_ptr() / nbytes()
 *   buffers     the last buffer along the `base` chain (a NumPy view's base
 *               array, a memoryview's exporter, the bytes/mmap under
 *               np.frombuffer); without one, the view's own extent. A view
 *               reaching outside that memory (as_strided) is refused.
 */

/* [*lo, *hi) of the bytes a buffer view addresses; 0 when it is empty. */
static int view_extent(const Py_buffer *v, uintptr_t *lo, uintptr_t *hi) {
  intptr_t below = 0, above = 0;
  for (int d = 0; d < v->ndim; d++) {
    Py_ssize_t n = v->shape ? v->shape[d] : v->len / v->itemsize;
    Py_ssize_t st = v->strides ? v->strides[d] : v->itemsize;
    intptr_t reach;
    if (n == 0)
      return 0;
    if (__builtin_mul_overflow((intptr_t)(n - 1), (intptr_t)st, &reach))
      return -1;
    if (reach < 0 ? __builtin_add_overflow(below, reach, &below)
                  : __builtin_add_overflow(above, reach, &above))
      return -1;
  }
  if (v->len == 0)
    return 0;
  *lo = (uintptr_t)v->buf + (uintptr_t)below;
  *hi = (uintptr_t)v->buf + (uintptr_t)above + (uintptr_t)v->itemsize;
  return 1;
}

/* The object that owns obj's memory (new reference): the last object with a
 * buffer along the chain of a NumPy view's `base` (through objects without
 * one, such as as_strided's interface holder) and a memoryview's exporter;
 * obj itself when there is none. */
static PyObject *memory_owner(PyObject *obj) {
  PyObject *cur = Py_NewRef(obj), *owner = Py_NewRef(obj);
  for (int depth = 0; depth < 32; depth++) {
    PyObject *next;
    if (PyMemoryView_Check(cur)) {
      next = PyMemoryView_GET_BUFFER(cur)->obj;
      Py_XINCREF(next);
    } else if (!(next = PyObject_GetAttr(cur, s_base))) {
      PyErr_Clear();
    }
    if (!next || next == Py_None || next == cur) {
      Py_XDECREF(next);
      break;
    }
    Py_SETREF(cur, next);
    if (PyObject_CheckBuffer(cur))
      Py_SETREF(owner, Py_NewRef(cur));
  }
  Py_DECREF(cur);
  return owner;
}

/* A buffer-protocol object (NumPy arrays, memoryviews, ...). */
static int buffer_arg(PyObject *obj, PtrArg *out) {
  Py_buffer view, whole;
  uintptr_t lo, hi, alo, ahi;
  if (PyObject_GetBuffer(obj, &view, PyBUF_RECORDS_RO) < 0) {
    PyErr_Clear(); /* the Python path explains */
    return 0;
  }
  out->dtype = format_dtype(view.format, view.itemsize);
  out->ptr = view.buf;
  out->readonly = view.readonly;
  out->nbytes = out->before = 0;
  int ext = view_extent(&view, &lo, &hi);
  PyBuffer_Release(&view);
  if (out->dtype == TM_VOID || out->dtype == TM_F64)
    return 0;
  if (ext < 0) {
    PyErr_SetString(PyExc_ValueError, "its shape and strides overflow the address space");
    return -1;
  }
  PyObject *owner = memory_owner(obj);
  int owned = 0;
  if (owner != obj && PyObject_GetBuffer(owner, &whole, PyBUF_RECORDS_RO) == 0) {
    owned = view_extent(&whole, &alo, &ahi) > 0;
    PyBuffer_Release(&whole);
  }
  PyErr_Clear();
  Py_DECREF(owner);
  uintptr_t p = (uintptr_t)out->ptr;
  if (!owned) { /* the view is all we know of its allocation */
    if (ext > 0)
      out->before = p - lo, out->nbytes = hi - p;
    return 1;
  }
  if (ext > 0 && (lo < alo || hi > ahi)) {
    int below = lo < alo;
    PyErr_Format(PyExc_ValueError,
                 "its shape and strides reach %zu bytes %s the memory of the array it views "
                 "(%zu bytes); a view must stay inside its array's memory",
                 below ? (size_t)(alo - lo) : (size_t)(hi - ahi),
                 below ? "before the start of" : "past the end of", (size_t)(ahi - alo));
    return -1;
  }
  if (p >= alo && p <= ahi) /* an empty view may point anywhere: then it gets nothing */
    out->before = p - alo, out->nbytes = ahi - p;
  return 1;
}

/* A torch tensor's dtype, data pointer and storage (start, bytes): attribute
 * reads and method calls, no Python frames. 1, 0 (a dtype not handled here),
 * or -1 with an exception set. */
static int tensor_memory(PyObject *obj, tm_dtype *dt, uintptr_t *p, uintptr_t *s0, size_t *sn) {
  PyObject *t, *st;
  if (!(t = PyObject_GetAttr(obj, s_dtype)))
    return -1;
  PyObject *code = tensor_dtypes ? PyDict_GetItemWithError(tensor_dtypes, t) : NULL;
  Py_DECREF(t);
  if (!code)
    return PyErr_Occurred() ? -1 : 0;
  *dt = (tm_dtype)PyLong_AsLong(code);
  if (!(t = PyObject_CallMethodNoArgs(obj, s_data_ptr)))
    return -1;
  *p = (uintptr_t)PyLong_AsVoidPtr(t);
  Py_DECREF(t);
  if (!(st = PyObject_CallMethodNoArgs(obj, s_untyped_storage)))
    return -1;
  *s0 = 0;
  *sn = 0;
  if ((t = PyObject_CallMethodNoArgs(st, s_data_ptr))) {
    *s0 = (uintptr_t)PyLong_AsVoidPtr(t);
    Py_DECREF(t);
    if ((t = PyObject_CallMethodNoArgs(st, s_nbytes))) {
      *sn = PyLong_AsSize_t(t);
      Py_DECREF(t);
    }
  }
  Py_DECREF(st);
  return PyErr_Occurred() ? -1 : 1;
}

/* A torch CPU tensor. Its allocation is its storage (torch keeps every view
 * inside it). */
static int tensor_arg(PyObject *obj, PtrArg *out) {
  PyObject *t;
  if (!(t = PyObject_GetAttr(obj, s_is_cpu)))
    return -1;
  int ok = t == Py_True;
  Py_DECREF(t);
  if (!ok)
    return 0;
  uintptr_t p, s0;
  size_t sn;
  int r = tensor_memory(obj, &out->dtype, &p, &s0, &sn);
  if (r <= 0)
    return r;
  out->ptr = (void *)p;
  out->readonly = 0;
  if (p < s0 || p - s0 > sn) { /* only an empty tensor can point elsewhere */
    out->before = out->nbytes = 0;
    return 1;
  }
  out->before = p - s0;
  out->nbytes = sn - (p - s0);
  return 1;
}

int tmpy_pointer_arg(PyObject *obj, PtrArg *out) {
  memset(out, 0, sizeof *out);
  if (PyObject_CheckBuffer(obj))
    return buffer_arg(obj, out);
  if (tensor_type && PyObject_TypeCheck(obj, (PyTypeObject *)tensor_type)) {
    int r = tensor_arg(obj, out);
    return r == 1 && out->dtype > TM_VOID && out->dtype < TM_F64 ? 1 : r < 0 ? -1 : 0;
  }
  return 0;
}

/* A torch CUDA tensor on cuda:0, for the fast path only (pointer_arg and the
 * Python path describe it through interop.py): its storage is the buffer, the
 * view starts offset bytes into it and may address all of it, as interop's
 * torch_cuda view. 1, 0 (not one: the Python path decides, and explains), or
 * -1 with an exception set. The launch is ordered by the stream: nothing to
 * wait for, as the Python path. */
static int cuda_tensor_arg(PyObject *obj, PtrArg *out) {
  PyObject *t;
  memset(out, 0, sizeof *out);
  if (!tensor_type || !PyObject_TypeCheck(obj, (PyTypeObject *)tensor_type))
    return 0;
  if (!(t = PyObject_GetAttr(obj, s_is_cuda))) {
    PyErr_Clear();
    return 0;
  }
  int ok = t == Py_True;
  Py_DECREF(t);
  if (!ok)
    return 0;
  if (!(t = PyObject_CallMethodNoArgs(obj, s_get_device)))
    return -1;
  ok = PyLong_Check(t) && PyLong_AsLong(t) == 0; /* cuda:0 only, as interop */
  Py_DECREF(t);
  if (!ok)
    return PyErr_Occurred() ? -1 : 0;
  uintptr_t p, s0;
  size_t sn;
  int r = tensor_memory(obj, &out->dtype, &p, &s0, &sn);
  if (r <= 0)
    return r;
  if (!s0 || p < s0 || p - s0 > sn) /* an empty tensor: the Python path */
    return 0;
  out->buffer = (void *)s0;
  out->offset = p - s0;
  out->ptr = (void *)p;
  out->before = p - s0;
  out->nbytes = sn - (p - s0);
  out->readonly = 0;
  return out->dtype > TM_VOID && out->dtype < TM_F64;
}

/* pointer_arg(obj) -> (tm_dtype, ptr, nbytes, readonly, before) or None:
 * tmpy_pointer_arg. */
static PyObject *py_pointer_arg(PyObject *mod, PyObject *obj) {
  PtrArg p;
  int r = tmpy_pointer_arg(obj, &p);
  if (r < 0)
    return NULL;
  if (r == 0)
    Py_RETURN_NONE;
  return Py_BuildValue("(iNnin)", (int)p.dtype, PyLong_FromVoidPtr(p.ptr), (Py_ssize_t)p.nbytes,
                       p.readonly, (Py_ssize_t)p.before);
}

/* set_visible_device_views(n): the number of live registrations of
 * kernel-visible Metal memory (visible.py). */
static PyObject *py_set_visible_device_views(PyObject *mod, PyObject *arg) {
  long n = PyLong_AsLong(arg);
  if (n == -1 && PyErr_Occurred())
    return NULL;
  visible_device_views = n;
  Py_RETURN_NONE;
}

/* set_launch_hooks(on): CompiledKernel.launch_enter_hook / launch_exit_hook are
 * set (jit.py); while on, launches take the Python path, which calls them. */
static int launch_hooks;
static PyObject *py_set_launch_hooks(PyObject *mod, PyObject *arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0)
    return NULL;
  launch_hooks = on;
  Py_RETURN_NONE;
}

/* set_pointer_types(tensor_type, dtypes): what tmpy_pointer_arg knows of torch. */
static PyObject *py_set_pointer_types(PyObject *mod, PyObject *args) {
  PyObject *tt, *dt;
  if (!PyArg_ParseTuple(args, "OO!", &tt, &PyDict_Type, &dt))
    return NULL;
  if (tt != Py_None && !PyType_Check(tt))
    return PyErr_Format(PyExc_TypeError, "tensor type must be a type or None");
  Py_XDECREF(tensor_type);
  Py_XDECREF(tensor_dtypes);
  tensor_type = tt == Py_None ? NULL : Py_NewRef(tt);
  tensor_dtypes = Py_NewRef(dt);
  Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ Dispatcher */

typedef struct {
  PyObject_HEAD
  Py_ssize_t nparams;
  int fast_ok;           /* signature and configuration allow the fast path */
  unsigned char *flags;  /* F_* per parameter */
  PyObject *names;       /* tuple of str */
  PyObject *defaults;    /* tuple: default value (or None) per parameter */
  PyObject *fast_cache;  /* dict key -> (CompiledKernel, Module) */
} Dispatcher;

static int Dispatcher_init(Dispatcher *self, PyObject *args, PyObject *kw) {
  if (!self->fast_cache && !(self->fast_cache = PyDict_New()))
    return -1;
  return 0;
}

static void Dispatcher_dealloc(Dispatcher *self) {
  PyObject_GC_UnTrack(self);
  PyMem_Free(self->flags);
  Py_CLEAR(self->names);
  Py_CLEAR(self->defaults);
  Py_CLEAR(self->fast_cache);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Dispatcher_traverse(Dispatcher *self, visitproc visit, void *arg) {
  Py_VISIT(self->names);
  Py_VISIT(self->defaults);
  Py_VISIT(self->fast_cache); /* Python subclasses visit their type themselves */
  return 0;
}

static int Dispatcher_clear(Dispatcher *self) {
  Py_CLEAR(self->names);
  Py_CLEAR(self->defaults);
  Py_CLEAR(self->fast_cache);
  return 0;
}

/* _configure(names, flags, defaults, fast_ok): the kernel's signature, from jit.py. */
static PyObject *Dispatcher_configure(Dispatcher *self, PyObject *args) {
  PyObject *names, *flags, *defaults;
  int fast_ok;
  if (!PyArg_ParseTuple(args, "O!O!O!p", &PyTuple_Type, &names, &PyBytes_Type, &flags,
                        &PyTuple_Type, &defaults, &fast_ok))
    return NULL;
  Py_ssize_t n = PyTuple_GET_SIZE(names);
  if (PyBytes_GET_SIZE(flags) != n || PyTuple_GET_SIZE(defaults) != n)
    return PyErr_Format(PyExc_ValueError, "names, flags and defaults differ in length");
  for (Py_ssize_t i = 0; i < n; i++)
    if (!PyUnicode_Check(PyTuple_GET_ITEM(names, i)))
      return PyErr_Format(PyExc_TypeError, "parameter names must be str");
  unsigned char *f = PyMem_Malloc((size_t)n + 1);
  if (!f)
    return PyErr_NoMemory();
  memcpy(f, PyBytes_AS_STRING(flags), (size_t)n);
  PyMem_Free(self->flags);
  self->flags = f;
  Py_XSETREF(self->names, Py_NewRef(names));
  Py_XSETREF(self->defaults, Py_NewRef(defaults));
  self->nparams = n;
  self->fast_ok = fast_ok && n <= MAX_PARAMS;
  if (!self->fast_cache && !(self->fast_cache = PyDict_New()))
    return NULL;
  Py_RETURN_NONE;
}

/* Index of the parameter named k, or -1. */
static Py_ssize_t param_index(Dispatcher *d, PyObject *k) {
  for (Py_ssize_t j = 0; j < d->nparams; j++)
    if (PyTuple_GET_ITEM(d->names, j) == k)
      return j;
  for (Py_ssize_t j = 0; j < d->nparams; j++)
    if (PyUnicode_Check(k) && PyUnicode_Compare(PyTuple_GET_ITEM(d->names, j), k) == 0)
      return j;
  return -1;
}

/* Raises exc with "<kernel>: <message>" (the kernel is the JITFunction's
 * __name__), so a bad grid names the kernel like every other launch error. */
static void grid_error(Dispatcher *d, PyObject *exc, const char *fmt, PyObject *obj) {
  PyObject *name = PyObject_GetAttrString((PyObject *)d, "__name__");
  if (!name) {
    PyErr_Clear();
    name = PyUnicode_FromString("kernel");
    if (!name)
      return;
  }
  PyObject *msg = PyUnicode_FromFormat(fmt, obj);
  if (msg)
    PyErr_Format(exc, "%S: %U", name, msg);
  Py_XDECREF(msg);
  Py_DECREF(name);
}

/* A grid (1 to 3 ints, or a callable of the bound-arguments dict) -> g[3].
 * 0, or -1 with the exception set (the grid callable's own exceptions pass
 * through; the grid's errors name the kernel). */
static int parse_grid(Dispatcher *d, PyObject *grid, PyObject *const *vals, uint32_t g[3]) {
  PyObject *res = NULL;
  if (!PyTuple_Check(grid) && !PyList_Check(grid) && PyCallable_Check(grid)) {
    PyObject *bound = PyDict_New();
    if (!bound)
      return -1;
    for (Py_ssize_t i = 0; i < d->nparams; i++)
      if (PyDict_SetItem(bound, PyTuple_GET_ITEM(d->names, i), vals[i]) < 0) {
        Py_DECREF(bound);
        return -1;
      }
    res = PyObject_CallOneArg(grid, bound);
    Py_DECREF(bound);
    if (!res)
      return -1;
    grid = res;
  }
  PyObject *seq = PySequence_Fast(grid, "");
  if (!seq) {
    PyErr_Clear();
    grid_error(d, PyExc_TypeError, "grid must be a tuple of 1 to 3 ints or a callable, got %R",
               grid);
    Py_XDECREF(res);
    return -1;
  }
  Py_XDECREF(res);
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  if (n < 1 || n > 3) {
    grid_error(d, PyExc_ValueError, "grid must have 1 to 3 dimensions, got %R", seq);
    Py_DECREF(seq);
    return -1;
  }
  g[0] = g[1] = g[2] = 1;
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *x = PySequence_Fast_GET_ITEM(seq, i);
    int overflow = 0;
    long long v = -1;
    PyObject *idx = PyLong_Check(x) ? Py_NewRef(x) : PyNumber_Index(x);
    if (!idx) {
      PyErr_Clear();
      grid_error(d, PyExc_TypeError, "grid dimensions must be integers, got %R", seq);
      Py_DECREF(seq);
      return -1;
    }
    v = PyLong_AsLongLongAndOverflow(idx, &overflow);
    Py_DECREF(idx);
    if (overflow || v < 0 || (unsigned long long)v > 0xffffffffULL) {
      grid_error(d, PyExc_ValueError, "grid dimensions must be integers in [0, 2**32), got %R",
                 seq);
      Py_DECREF(seq);
      return -1;
    }
    g[i] = (uint32_t)v;
  }
  Py_DECREF(seq);
  return 0;
}

/* The key entry of a Python int argument (exact int), or -1 when it does not
 * fit in 64 bits (the slow path raises the OverflowError). */
static int int_code(PyObject *v, unsigned f) {
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
  int cls, div16;
  if (overflow > 0) {
    unsigned long long u = PyLong_AsUnsignedLongLong(v);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
      PyErr_Clear();
      return -1;
    }
    cls = K_U64;
    div16 = (u & 15) == 0;
  } else if (overflow < 0) {
    return -1;
  } else {
    if (x == 1 && (f & F_SPEC_VALUE))
      return K_ONE;
    cls = x >= INT32_MIN && x <= INT32_MAX ? K_I32 : K_I64;
    div16 = (x & 15) == 0;
  }
  return cls + (div16 && (f & F_SPEC_ALIGN) ? 1 : 0);
}

/* Appends the (type, value) entry of a compile-time value to the key items.
 * Floats go by their bits, so 0.0 and -0.0 (equal in Python) differ. */
static int push_value(PyObject **items, int *n, PyObject *v) {
  items[(*n)++] = Py_NewRef((PyObject *)Py_TYPE(v));
  if (PyFloat_CheckExact(v)) {
    double dv = PyFloat_AS_DOUBLE(v);
    long long bits;
    memcpy(&bits, &dv, sizeof bits);
    if (!(items[*n] = PyLong_FromLongLong(bits)))
      return -1;
    (*n)++;
    return 0;
  }
  items[(*n)++] = Py_NewRef(v);
  return 0;
}

/* The slow path: JITFunction._slow_run(grid, args, kwargs, key). */
static PyObject *slow_run(Dispatcher *d, PyObject *grid, PyObject *args, PyObject *kwargs,
                          PyObject *key) {
  PyObject *kw = kwargs ? Py_NewRef(kwargs) : PyDict_New();
  if (!kw)
    return NULL;
  PyObject *r = PyObject_CallMethodObjArgs((PyObject *)d, s_slow_run, grid, args, kw,
                                           key ? key : Py_None, NULL);
  Py_DECREF(kw);
  return r;
}

static PyObject *dispatch(Dispatcher *d, PyObject *grid, PyObject *args, PyObject *kwargs) {
  PyObject *vals[MAX_PARAMS];
  PtrArg ptrs[MAX_PARAMS];
  PyObject *items[2 * MAX_PARAMS + 2 + 2 * MAX_OPTS];
  unsigned is_ptr[MAX_PARAMS] = {0};
  PyObject *opts[2 * MAX_OPTS];
  PyObject *key = NULL, *result = NULL;
  int nitems = 0, nopts = 0;
  Py_ssize_t nargs = PyTuple_GET_SIZE(args), n = d->nparams;

  if (!d->fast_ok || nargs > n || visible_device_views || launch_hooks)
    return slow_run(d, grid, args, kwargs, NULL);
  for (Py_ssize_t i = 0; i < n; i++)
    vals[i] = i < nargs ? PyTuple_GET_ITEM(args, i) : NULL;
  if (kwargs && PyDict_GET_SIZE(kwargs)) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(kwargs, &pos, &k, &v)) {
      Py_ssize_t j = param_index(d, k);
      if (j >= 0 && !vals[j]) {
        vals[j] = v;
      } else if (j >= 0 || nopts == 2 * MAX_OPTS) {
        return slow_run(d, grid, args, kwargs, NULL); /* Python raises the TypeError */
      } else {
        opts[nopts++] = k;
        opts[nopts++] = v;
      }
    }
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    if (vals[i])
      continue;
    if (!(d->flags[i] & F_HAS_DEFAULT))
      return slow_run(d, grid, args, kwargs, NULL); /* missing argument: Python raises */
    vals[i] = PyTuple_GET_ITEM(d->defaults, i);
  }
  /* The grid first, as upstream: a grid callable may resize or replace an
   * argument's memory, so no argument is read before it has run. The slow
   * path then gets the evaluated grid, not the callable (it runs once). */
  uint32_t g[3];
  PyObject *evaluated = NULL;
  if (!PyTuple_Check(grid) && !PyList_Check(grid) && PyCallable_Check(grid)) {
    if (parse_grid(d, grid, vals, g) < 0)
      return NULL;
    if (!(evaluated = Py_BuildValue("(kkk)", (unsigned long)g[0], (unsigned long)g[1],
                                    (unsigned long)g[2])))
      return NULL;
    grid = evaluated;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *v = vals[i];
    unsigned f = d->flags[i];
    int code;
    if ((f & F_CONSTEXPR) || v == Py_None || PyUnicode_CheckExact(v)) {
      if (push_value(items, &nitems, v) < 0)
        goto fail;
      continue;
    }
    if (PyLong_CheckExact(v)) {
      if ((code = int_code(v, f)) < 0)
        goto slow;
    } else if (PyFloat_CheckExact(v)) {
      code = K_F32;
    } else if (PyBool_Check(v)) {
      code = K_BOOL;
    } else {
      int r = tmpy_pointer_arg(v, &ptrs[i]);
      if (r == 0)
        r = cuda_tensor_arg(v, &ptrs[i]);
      if (r <= 0) {
        PyErr_Clear();
        goto slow;
      }
      is_ptr[i] = 1;
      int div16 = (d->flags[i] & F_PTR_ALIGN) && ((uintptr_t)ptrs[i].ptr & 15) == 0;
      code = (ptrs[i].buffer ? K_DPTR : K_PTR) + (int)ptrs[i].dtype * 4 + div16 * 2 + (ptrs[i].readonly ? 1 : 0);
    }
    if (!(items[nitems] = PyLong_FromLong(code)))
      goto fail;
    nitems++;
  }
  if (args_overlap(ptrs, (const PyObject *const *)vals, is_ptr, n))
    items[nitems++] = Py_NewRef(ALIAS);
  if (nopts) {
    items[nitems++] = Py_NewRef(OPTS);
    for (int i = 0; i < nopts; i++)
      items[nitems++] = Py_NewRef(opts[i]);
  }
  if (!(key = PyTuple_New(nitems)))
    goto fail;
  for (int i = 0; i < nitems; i++)
    PyTuple_SET_ITEM(key, i, items[i]); /* steals */
  nitems = 0;

  PyObject *entry = PyDict_GetItemWithError(d->fast_cache, key);
  if (!entry) {
    if (PyErr_Occurred()) { /* an unhashable value: the Python path explains */
      PyErr_Clear();
      Py_CLEAR(key);
    }
    goto slow;
  }
  if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 ||
      !PyObject_TypeCheck(PyTuple_GET_ITEM(entry, 1), &tmpy_ModuleType))
    goto slow;
  Py_INCREF(entry);
  if ((evaluated || parse_grid(d, grid, vals, g) == 0) &&
      tmpy_launch((ModuleObject *)PyTuple_GET_ITEM(entry, 1), g, vals, n, ptrs) == 0)
    result = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
  Py_DECREF(entry);
  Py_DECREF(key);
  Py_XDECREF(evaluated);
  return result;

slow:
  for (int i = 0; i < nitems; i++)
    Py_DECREF(items[i]);
  result = slow_run(d, grid, args, kwargs, key);
  Py_XDECREF(key);
  Py_XDECREF(evaluated);
  return result;
fail:
  for (int i = 0; i < nitems; i++)
    Py_DECREF(items[i]);
  Py_XDECREF(key);
  Py_XDECREF(evaluated);
  return NULL;
}

/* _dispatch(grid, args, kwargs): what kernel[grid](*args, **kwargs) does. */
static PyObject *Dispatcher_dispatch(Dispatcher *self, PyObject *args) {
  PyObject *grid, *a, *kw;
  if (!PyArg_ParseTuple(args, "OO!O!", &grid, &PyTuple_Type, &a, &PyDict_Type, &kw))
    return NULL;
  return dispatch(self, grid, a, kw);
}

/* ------------------------------------------------------------------ Launcher */

typedef struct {
  PyObject_HEAD
  Dispatcher *d;
  PyObject *grid;
} Launcher;

static PyTypeObject LauncherType;

static void Launcher_dealloc(Launcher *self) {
  Py_XDECREF(self->d);
  Py_XDECREF(self->grid);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Launcher_call(Launcher *self, PyObject *args, PyObject *kwargs) {
  return dispatch(self->d, self->grid, args, kwargs);
}

static PyTypeObject LauncherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Launcher",
    .tp_basicsize = sizeof(Launcher),
    .tp_dealloc = (destructor)Launcher_dealloc,
    .tp_call = (ternaryfunc)Launcher_call,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "kernel[grid]: call it with the kernel's arguments to launch.",
};

static PyObject *Dispatcher_getitem(Dispatcher *self, PyObject *grid) {
  Launcher *l = PyObject_New(Launcher, &LauncherType);
  if (!l)
    return NULL;
  l->d = (Dispatcher *)Py_NewRef(self);
  l->grid = Py_NewRef(grid);
  return (PyObject *)l;
}

static PyMappingMethods Dispatcher_mapping = {
    .mp_subscript = (binaryfunc)Dispatcher_getitem,
};

static PyMethodDef Dispatcher_methods[] = {
    {"_configure", (PyCFunction)Dispatcher_configure, METH_VARARGS,
     "_configure(names, flags, defaults, fast_ok): the signature, for the fast path"},
    {"_dispatch", (PyCFunction)Dispatcher_dispatch, METH_VARARGS,
     "_dispatch(grid, args, kwargs) -> CompiledKernel: bind, look up, launch"},
    {NULL, NULL, 0, NULL}};

static PyMemberDef Dispatcher_members[] = {
    {"fast_cache", Py_T_OBJECT_EX, offsetof(Dispatcher, fast_cache), Py_READONLY,
     "launch key -> (CompiledKernel, Module), filled by _slow_run"},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject DispatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Dispatcher",
    .tp_basicsize = sizeof(Dispatcher),
    .tp_dealloc = (destructor)Dispatcher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Base of JITFunction: kernel[grid](...) in C (see launcher.c).",
    .tp_traverse = (traverseproc)Dispatcher_traverse,
    .tp_clear = (inquiry)Dispatcher_clear,
    .tp_as_mapping = &Dispatcher_mapping,
    .tp_methods = Dispatcher_methods,
    .tp_members = Dispatcher_members,
    .tp_init = (initproc)Dispatcher_init,
    .tp_new = PyType_GenericNew,
};

static PyMethodDef launcher_functions[] = {
    {"pointer_arg", py_pointer_arg, METH_O,
     "pointer_arg(obj) -> (tm_dtype, ptr, nbytes, readonly, before), or None when obj is not "
     "an array/tensor usable as it is: ptr is the view's data pointer, [ptr - before, ptr + "
     "nbytes) the allocation it lives in"},
    {"set_visible_device_views", py_set_visible_device_views, METH_O,
     "set_visible_device_views(n): while n > 0 launches take the Python path (visible.py)"},
    {"set_launch_hooks", py_set_launch_hooks, METH_O,
     "set_launch_hooks(on): while on, launches take the Python path (launch_enter_hook)"},
    {"set_pointer_types", py_set_pointer_types, METH_VARARGS,
     "set_pointer_types(tensor_type, {dtype: tm_dtype}): torch support for pointer_arg"},
    {NULL, NULL, 0, NULL}};

int tmpy_launcher_init(PyObject *m) {
  if (!(s_is_cpu = PyUnicode_InternFromString("is_cpu")) ||
      !(s_untyped_storage = PyUnicode_InternFromString("untyped_storage")) ||
      !(s_base = PyUnicode_InternFromString("base")) ||
      !(s_dtype = PyUnicode_InternFromString("dtype")) ||
      !(s_data_ptr = PyUnicode_InternFromString("data_ptr")) ||
      !(s_nbytes = PyUnicode_InternFromString("nbytes")) ||
      !(s_slow_run = PyUnicode_InternFromString("_slow_run")) ||
      !(s_is_cuda = PyUnicode_InternFromString("is_cuda")) ||
      !(s_get_device = PyUnicode_InternFromString("get_device")) ||
      !(OPTS = PyUnicode_InternFromString("<options>")) ||
      !(ALIAS = PyUnicode_InternFromString("<aliasing arguments>")))
    return -1;
  if (PyType_Ready(&DispatcherType) < 0 || PyType_Ready(&LauncherType) < 0)
    return -1;
  if (PyModule_AddObjectRef(m, "Dispatcher", (PyObject *)&DispatcherType) < 0 ||
      PyModule_AddObjectRef(m, "Launcher", (PyObject *)&LauncherType) < 0)
    return -1;
  return PyModule_AddFunctions(m, launcher_functions);
}
