/*
 * _C.c: the triton_metal._C extension module, a thin CPython layer over
 * include/triton_metal.h.
 *
 *   compile(...)      -> Kernel   tm_compile; the request comes as plain tuples
 *                                 built by jit.py (see parse_param, parse_global)
 *   Device(name=None) -> Device   tm_device_open; .load(kernel) -> Module
 *   Module.launch(grid, values)   tm_launch_ex; values has one entry per kernel
 *                                 parameter: (ptr, nbytes, readonly[, before])
 *                                 for host memory (ptr: the kernel's pointer,
 *                                 [ptr - before, ptr + nbytes) its allocation),
 *                                 (0, nbytes, readonly, buffer, offset[, before])
 *                                 for an id<MTLBuffer>, a Python number for a
 *                                 scalar; Device.set_timing(True) makes it
 *                                 tm_launch_timed (Device.take_timing sums)
 *   buffer_info(obj)              (ptr, nbytes, readonly, c_contiguous) of a
 *                                 buffer-protocol object (NumPy arrays)
 *
 * Every input is type-checked here, so bad input raises instead of crashing.
 * The GIL is released around tm_compile, tm_module_load and tm_launch; inputs
 * are first copied into tuples (immutable) so the C strings they lend stay
 * valid while the GIL is released.
 */
#include <signal.h>
#include <string.h>

#include "_C.h"

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#define Py_T_INT T_INT
#define Py_READONLY READONLY
#endif

/* Exception types, created once at module init. */
PyObject *tmpy_CompilationError;
PyObject *tmpy_LaunchError;
#define CompilationError tmpy_CompilationError
#define LaunchError tmpy_LaunchError
#define ModuleType tmpy_ModuleType

/* ------------------------------------------------------------------ errors */

void tmpy_raise_msg(PyObject *exc, tm_status st, char *err, const char *what) {
  PyObject *msg;
  if (st == TM_ERR_NOMEM)
    exc = PyExc_MemoryError;
  if (err)
    msg = PyUnicode_DecodeUTF8(err, (Py_ssize_t)strlen(err), "replace");
  else
    msg = PyUnicode_FromFormat("%s failed (status %d)", what, (int)st);
  tm_free(err);
  if (!msg)
    return;
  PyErr_SetObject(exc, msg);
  Py_DECREF(msg);
}

/* ------------------------------------------------------------------ values */

/* (vkind, payload) -> tm_value. Strings are borrowed from payload. */
/* (vkind, payload) -> tm_value. A tuple's items live in a bytes object added to
 * keep (a list the caller holds until the compile returns). */
static int parse_value(int vkind, PyObject *payload, tm_value *v, PyObject *keep) {
  memset(v, 0, sizeof *v);
  v->kind = (tm_value_kind)vkind;
  switch (vkind) {
  case TM_V_NONE:
    return 0;
  case TM_V_TUPLE: {
    if (!PyTuple_Check(payload) || !keep)
      return PyErr_SetString(PyExc_TypeError, "a tuple value needs a tuple of (kind, payload)"), -1;
    Py_ssize_t n = PyTuple_GET_SIZE(payload);
    PyObject *store = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(tm_value));
    if (!store || PyList_Append(keep, store) < 0) {
      Py_XDECREF(store);
      return -1;
    }
    Py_DECREF(store); /* the list holds it */
    tm_value *items = (tm_value *)PyBytes_AS_STRING(store);
    for (Py_ssize_t i = 0; i < n; i++) {
      int k;
      PyObject *p;
      if (!PyArg_ParseTuple(PyTuple_GET_ITEM(payload, i), "iO", &k, &p) ||
          parse_value(k, p, &items[i], keep) < 0)
        return -1;
    }
    v->items = items;
    v->i = n;
    return 0;
  }
  case TM_V_BOOL: {
    int b = PyObject_IsTrue(payload);
    if (b < 0)
      return -1;
    v->i = b;
    return 0;
  }
  case TM_V_INT:
    if (!PyLong_Check(payload)) {
      PyErr_SetString(PyExc_TypeError, "constexpr int value expected");
      return -1;
    }
    v->i = PyLong_AsLongLong(payload);
    return (v->i == -1 && PyErr_Occurred()) ? -1 : 0;
  case TM_V_FLOAT:
    v->f = PyFloat_AsDouble(payload);
    return (v->f == -1.0 && PyErr_Occurred()) ? -1 : 0;
  case TM_V_DTYPE: {
    long d = PyLong_AsLong(payload);
    if (d == -1 && PyErr_Occurred())
      return -1;
    long e = d & ~(long)TM_DTYPE_PTR; /* a pointer type: its element dtype */
    if (e <= TM_VOID || (e >= TM_NDTYPES && e < TM_FP8E5) || e >= TM_DT_END || (d != e && e >= TM_NDTYPES)) {
      PyErr_Format(PyExc_ValueError, "bad dtype code %ld", d);
      return -1;
    }
    v->i = d;
    return 0;
  }
  case TM_V_STR:
  case TM_V_GLOBAL:
    if (!PyUnicode_Check(payload)) {
      PyErr_SetString(PyExc_TypeError, "constexpr str value expected");
      return -1;
    }
    v->s = PyUnicode_AsUTF8(payload);
    return v->s ? 0 : -1;
  }
  PyErr_Format(PyExc_ValueError, "bad value kind %d", vkind);
  return -1;
}

static int check_tuple(PyObject *item, Py_ssize_t n, const char *what) {
  if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != n) {
    PyErr_Format(PyExc_TypeError, "%s must be a tuple of %zd items", what, n);
    return -1;
  }
  return 0;
}

/* (kind, dtype, flags, vkind, payload) -> tm_param_spec */
static int parse_param(PyObject *item, tm_param_spec *p, PyObject *keep) {
  int kind, dtype, flags, vkind;
  PyObject *payload;
  if (check_tuple(item, 5, "param spec") < 0 ||
      !PyArg_ParseTuple(item, "iiiiO", &kind, &dtype, &flags, &vkind, &payload))
    return -1;
  if (kind < TM_PARAM_POINTER || kind > TM_PARAM_TUPLE || dtype < 0 || dtype >= TM_NDTYPES ||
      flags < 0) {
    PyErr_SetString(PyExc_ValueError, "bad param spec");
    return -1;
  }
  p->kind = (tm_param_kind)kind;
  p->dtype = (tm_dtype)dtype;
  p->flags = (unsigned)flags;
  return parse_value(vkind, payload, &p->value, keep);
}

/* (name, gkind, target, vkind, payload, source, file, line) -> tm_global */
static int parse_global(PyObject *item, tm_global *g, PyObject *keep) {
  int gkind, vkind;
  PyObject *payload;
  if (check_tuple(item, 8, "global") < 0 ||
      !PyArg_ParseTuple(item, "siziOzzi", &g->name, &gkind, &g->target, &vkind, &payload,
                        &g->source, &g->file, &g->line))
    return -1;
  if (gkind < TM_G_MODULE || gkind > TM_G_TUPLETYPE) {
    PyErr_SetString(PyExc_ValueError, "bad global kind");
    return -1;
  }
  g->kind = (tm_global_kind)gkind;
  if (gkind == TM_G_HOSTFN) { /* payload: the callable (the globals tuple keeps it alive) */
    if (!PyCallable_Check(payload)) {
      PyErr_SetString(PyExc_TypeError, "a host-function global needs a callable");
      return -1;
    }
    g->host = payload;
    return 0;
  }
  return parse_value(vkind, payload, &g->value, keep);
}

/* ------------------------------------------------------------------ host functions */

/* (kind, payload) of a compile-time value, for triton_metal.jit._host_call. */
static PyObject *value_to_py(const tm_value *v) {
  switch (v->kind) {
  case TM_V_BOOL: return Py_BuildValue("(iO)", (int)v->kind, v->i ? Py_True : Py_False);
  case TM_V_INT: case TM_V_DTYPE: return Py_BuildValue("(iL)", (int)v->kind, (long long)v->i);
  case TM_V_FLOAT: return Py_BuildValue("(id)", (int)v->kind, v->f);
  case TM_V_STR: return Py_BuildValue("(is)", (int)v->kind, v->s ? v->s : "");
  default: return Py_BuildValue("(iO)", (int)TM_V_NONE, Py_None);
  }
}

static char *exception_text(void) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  PyObject *s = value ? PyObject_Str(value) : NULL;
  const char *tn = type ? ((PyTypeObject *)type)->tp_name : "error";
  const char *ms = s ? PyUnicode_AsUTF8(s) : NULL;
  size_t n = strlen(tn) + (ms ? strlen(ms) : 0) + 4;
  char *out = malloc(n);
  if (out) snprintf(out, n, "%s: %s", tn, ms ? ms : "");
  PyErr_Clear();
  Py_XDECREF(s);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return out;
}

/* tm_host_call: runs a @constexpr_function through triton_metal.jit._host_call,
 * which converts the values both ways. ctx is a list that keeps string results
 * alive until the compile returns. */
static int host_call(void *ctx, const tm_global *g, const tm_value *args, int nargs, tm_value *out, char **err) {
  PyGILState_STATE gil = PyGILState_Ensure();
  int rc = 1;
  PyObject *jit = NULL, *t = PyTuple_New(nargs), *r = NULL;
  for (int i = 0; t && i < nargs; i++) {
    PyObject *v = value_to_py(&args[i]);
    if (!v) {
      Py_CLEAR(t);
      break;
    }
    PyTuple_SET_ITEM(t, i, v);
  }
  if (t && (jit = PyImport_ImportModule("triton_metal.jit")))
    r = PyObject_CallMethod(jit, "_host_call", "OO", (PyObject *)g->host, t);
  int kind;
  PyObject *payload;
  if (r && PyArg_ParseTuple(r, "iO", &kind, &payload) && parse_value(kind, payload, out, (PyObject *)ctx) == 0 &&
      PyList_Append((PyObject *)ctx, r) == 0)
    rc = 0;
  if (rc) *err = exception_text();
  Py_XDECREF(r);
  Py_XDECREF(t);
  Py_XDECREF(jit);
  PyGILState_Release(gil);
  return rc;
}

/* ------------------------------------------------------------------ Kernel */

typedef struct {
  PyObject_HEAD
  tm_kernel *k;
  PyObject *msl, *name, *source_file, *source_name, *args, *builtins, *dump;
  int threads_per_threadgroup, threadgroup_mem_bytes, uses_barriers, private_bytes;
} KernelObject;

static void Kernel_dealloc(KernelObject *self) {
  tm_kernel_free(self->k);
  Py_XDECREF(self->msl);
  Py_XDECREF(self->name);
  Py_XDECREF(self->source_file);
  Py_XDECREF(self->source_name);
  Py_XDECREF(self->args);
  Py_XDECREF(self->builtins);
  Py_XDECREF(self->dump);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *str_or_none(const char *s) {
  if (!s)
    Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

static PyMemberDef Kernel_members[] = {
    {"msl", Py_T_OBJECT_EX, offsetof(KernelObject, msl), Py_READONLY, "MSL text"},
    {"name", Py_T_OBJECT_EX, offsetof(KernelObject, name), Py_READONLY, "MSL function name"},
    {"source_file", Py_T_OBJECT_EX, offsetof(KernelObject, source_file), Py_READONLY, NULL},
    {"source_name", Py_T_OBJECT_EX, offsetof(KernelObject, source_name), Py_READONLY,
     "the kernel's name in its source (errors name it)"},
    {"args", Py_T_OBJECT_EX, offsetof(KernelObject, args), Py_READONLY,
     "runtime args in buffer order: (name, param_index, role, dtype, writable)"},
    {"builtins", Py_T_OBJECT_EX, offsetof(KernelObject, builtins), Py_READONLY, NULL},
    {"dump", Py_T_OBJECT_EX, offsetof(KernelObject, dump), Py_READONLY, "requested dump or None"},
    {"threads_per_threadgroup", Py_T_INT, offsetof(KernelObject, threads_per_threadgroup),
     Py_READONLY, NULL},
    {"threadgroup_mem_bytes", Py_T_INT, offsetof(KernelObject, threadgroup_mem_bytes),
     Py_READONLY, NULL},
    {"uses_barriers", Py_T_INT, offsetof(KernelObject, uses_barriers), Py_READONLY, NULL},
    {"private_bytes", Py_T_INT, offsetof(KernelObject, private_bytes), Py_READONLY,
     "estimate of a thread's private arrays, in bytes (an upper bound)"},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Kernel",
    .tp_basicsize = sizeof(KernelObject),
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled kernel: MSL text and its descriptor (from _C.compile).",
    .tp_members = Kernel_members,
};

/* Fills the Python-visible fields of a fresh Kernel from its tm_kernel. */
static int kernel_fill(KernelObject *ko) {
  const tm_kernel_info *info = tm_kernel_get_info(ko->k);
  if (!(ko->msl = str_or_none(tm_kernel_msl(ko->k))) || !(ko->name = str_or_none(info->name)) ||
      !(ko->source_file = str_or_none(info->source_file)) ||
      !(ko->source_name = str_or_none(info->source_name ? info->source_name : info->name)) ||
      !(ko->dump = str_or_none(tm_kernel_dump(ko->k))))
    return -1;
  if (!(ko->args = PyTuple_New(info->nargs)))
    return -1;
  for (int i = 0; i < info->nargs; i++) {
    const tm_kernel_arg *a = &info->args[i];
    PyObject *t = Py_BuildValue("(Niiii)", str_or_none(a->name), a->param_index, (int)a->role,
                                (int)a->dtype, a->writable);
    if (!t)
      return -1;
    PyTuple_SET_ITEM(ko->args, i, t);
  }
  int nb = info->nbuiltins < TM_MAX_BUILTINS ? info->nbuiltins : TM_MAX_BUILTINS;
  if (!(ko->builtins = PyTuple_New(nb)))
    return -1;
  for (int i = 0; i < nb; i++) {
    PyObject *b = PyLong_FromLong((long)info->builtins[i]);
    if (!b)
      return -1;
    PyTuple_SET_ITEM(ko->builtins, i, b);
  }
  ko->threads_per_threadgroup = info->threads_per_threadgroup;
  ko->threadgroup_mem_bytes = info->threadgroup_mem_bytes;
  ko->uses_barriers = info->uses_barriers;
  ko->private_bytes = info->private_bytes;
  return 0;
}

static PyObject *py_compile(PyObject *mod, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"source",  "filename",  "first_line", "kernel_name",
                           "params",  "globals",   "num_warps",  "debug",
                           "dump",    "opt_level", "debug_info", "args_may_alias", "target", NULL};
  int opt_level = TM_OPT_DEFAULT;
  const char *target = NULL;
  tm_compile_request req;
  PyObject *params_in = Py_None, *globals_in = Py_None, *params = NULL, *globals = NULL, *host_keep = NULL;
  PyObject *result = NULL;
  tm_param_spec *ps = NULL;
  tm_global *gs = NULL;
  memset(&req, 0, sizeof req);
  if (!PyArg_ParseTupleAndKeywords(args, kw, "sziz|OOipzippz", kwlist, &req.source, &req.filename,
                                   &req.first_line, &req.kernel_name, &params_in, &globals_in,
                                   &req.num_warps, &req.debug, &req.dump, &opt_level,
                                   &req.debug_info, &req.args_may_alias, &target))
    return NULL;
  if (target && !(req.target = tm_target_lookup(target)))
    return PyErr_Format(PyExc_ValueError, "target '%s' is not known (a preset such as 'M3-Max', "
                        "'M2@14.5', 'generic', or 'cuda-sm90')", target);
  if (opt_level < TM_OPT_DEFAULT || opt_level > TM_OPT_AGGRESSIVE)
    return PyErr_Format(PyExc_ValueError, "opt_level must be %d..%d, got %d", TM_OPT_DEFAULT,
                        TM_OPT_AGGRESSIVE, opt_level);
  req.opt_level = (tm_opt_level)opt_level;
  /* tuple copies: immutable, they keep every borrowed string alive */
  if (!(params = params_in == Py_None ? PyTuple_New(0) : PySequence_Tuple(params_in)) ||
      !(globals = globals_in == Py_None ? PyTuple_New(0) : PySequence_Tuple(globals_in)))
    goto out;
  req.nparams = (int)PyTuple_GET_SIZE(params);
  req.nglobals = (int)PyTuple_GET_SIZE(globals);
  ps = PyMem_Calloc((size_t)req.nparams + 1, sizeof *ps);
  gs = PyMem_Calloc((size_t)req.nglobals + 1, sizeof *gs);
  if (!ps || !gs) {
    PyErr_NoMemory();
    goto out;
  }
  if (!(host_keep = PyList_New(0)))
    goto out;
  for (int i = 0; i < req.nparams; i++)
    if (parse_param(PyTuple_GET_ITEM(params, i), &ps[i], host_keep) < 0)
      goto out;
  for (int i = 0; i < req.nglobals; i++)
    if (parse_global(PyTuple_GET_ITEM(globals, i), &gs[i], host_keep) < 0)
      goto out;
  req.params = ps;
  req.globals = gs;
  req.host_call = host_call;
  req.host_ctx = host_keep;

  tm_kernel *k = NULL;
  char *err = NULL;
  tm_status st;
  Py_BEGIN_ALLOW_THREADS
  st = tm_compile(&req, &k, &err);
  Py_END_ALLOW_THREADS
  if (st != TM_OK) {
    tmpy_raise_msg(st == TM_ERR_COMPILE ? CompilationError : PyExc_RuntimeError, st, err,
              "tm_compile");
    tm_kernel_free(k);
    goto out;
  }
  tm_free(err);
  KernelObject *ko = PyObject_New(KernelObject, &KernelType);
  if (!ko) {
    tm_kernel_free(k);
    goto out;
  }
  ko->k = k;
  ko->msl = ko->name = ko->source_file = ko->source_name = ko->args = ko->builtins = ko->dump = NULL;
  if (kernel_fill(ko) < 0) {
    Py_DECREF(ko);
    goto out;
  }
  result = (PyObject *)ko;
out:
  PyMem_Free(ps);
  PyMem_Free(gs);
  Py_XDECREF(params);
  Py_XDECREF(globals);
  Py_XDECREF(host_keep);
  return result;
}

/* ------------------------------------------------------------------ Device */

typedef struct {
  PyObject_HEAD
  tm_device *d;
  int timing;               /* set_timing(True): launches go through tm_launch_timed */
  uint64_t timed_ns;        /* their summed end - start, since take_timing() */
  uint64_t timed_launches;
  int time_source;          /* tm_time_source of the last timed launch */
  int emulated;             /* cpu or metal-sim: launches tm_interrupt can stop (sigint_hook) */
} DeviceObject;


static int Device_init(DeviceObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"name", NULL};
  const char *name = NULL;
  char *err = NULL;
  tm_status st;
  tm_device *d = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|z", kwlist, &name))
    return -1;
  if (self->d) {
    PyErr_SetString(PyExc_RuntimeError, "Device already opened");
    return -1;
  }
  Py_BEGIN_ALLOW_THREADS
  st = tm_device_open(name, &d, &err);
  Py_END_ALLOW_THREADS
  if (st != TM_OK) {
    tmpy_raise_msg(PyExc_RuntimeError, st, err, "tm_device_open");
    if (d)
      tm_device_close(d);
    return -1;
  }
  tm_free(err);
  self->d = d;
  const char *kind = tm_device_name(d);
  self->emulated = kind && (!strcmp(kind, "cpu") || !strcmp(kind, "metal-sim"));
  return 0;
}

static void Device_dealloc(DeviceObject *self) {
  if (self->d)
    tm_device_close(self->d);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static int device_ok(DeviceObject *self) {
  if (!self->d)
    PyErr_SetString(PyExc_RuntimeError, "Device is not open");
  return self->d != NULL;
}

static PyObject *Device_get_name(DeviceObject *self, void *c) {
  return device_ok(self) ? str_or_none(tm_device_name(self->d)) : NULL;
}

static PyObject *Device_get_description(DeviceObject *self, void *c) {
  return device_ok(self) ? str_or_none(tm_device_description(self->d)) : NULL;
}

/* The tm_kernel_info of a Kernel, built from its Python-visible fields (so a
 * Kernel read back from the disk cache loads as one fresh from tm_compile).
 * Strings are borrowed from ko; *args_out is PyMem-allocated. */
static int kernel_info(KernelObject *ko, tm_kernel_info *info, tm_kernel_arg **args_out) {
  memset(info, 0, sizeof *info);
  *args_out = NULL;
  if (!PyUnicode_Check(ko->msl) || !PyUnicode_Check(ko->name) || !PyTuple_Check(ko->args) ||
      !PyTuple_Check(ko->builtins)) {
    PyErr_SetString(PyExc_TypeError, "malformed Kernel");
    return -1;
  }
  if (!(info->name = PyUnicode_AsUTF8(ko->name)))
    return -1;
  if (ko->source_file != Py_None && !(info->source_file = PyUnicode_AsUTF8(ko->source_file)))
    return -1;
  if (ko->source_name && PyUnicode_Check(ko->source_name) && !(info->source_name = PyUnicode_AsUTF8(ko->source_name)))
    return -1;
  Py_ssize_t n = PyTuple_GET_SIZE(ko->args), nb = PyTuple_GET_SIZE(ko->builtins);
  if (n > 4096 || nb > TM_MAX_BUILTINS) {
    PyErr_SetString(PyExc_ValueError, "Kernel has too many arguments or builtins");
    return -1;
  }
  tm_kernel_arg *a = PyMem_Calloc((size_t)n + 1, sizeof *a);
  if (!a) {
    PyErr_NoMemory();
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    int role, dtype;
    if (check_tuple(PyTuple_GET_ITEM(ko->args, i), 5, "kernel arg") < 0 ||
        !PyArg_ParseTuple(PyTuple_GET_ITEM(ko->args, i), "ziiii", &a[i].name, &a[i].param_index,
                          &role, &dtype, &a[i].writable))
      goto fail;
    int debug_buffer = a[i].param_index == -1 && role == TM_ARG_BUFFER && dtype == TM_U32;
    if ((role != TM_ARG_BUFFER && role != TM_ARG_BYTES) || dtype <= TM_VOID ||
        dtype >= TM_NDTYPES || (a[i].param_index < 0 && !debug_buffer)) {
      PyErr_Format(PyExc_ValueError, "bad kernel arg %zd", i);
      goto fail;
    }
    a[i].role = (tm_arg_role)role;
    a[i].dtype = (tm_dtype)dtype;
  }
  for (Py_ssize_t i = 0; i < nb; i++) {
    long b = PyLong_AsLong(PyTuple_GET_ITEM(ko->builtins, i));
    if (b == -1 && PyErr_Occurred())
      goto fail;
    if (b < TM_BI_THREADGROUP_POSITION || b > TM_BI_SIMDGROUP) {
      PyErr_Format(PyExc_ValueError, "bad kernel builtin %ld", b);
      goto fail;
    }
    info->builtins[i] = (tm_builtin)b;
  }
  info->nargs = (int)n;
  info->args = a;
  info->nbuiltins = (int)nb;
  info->threads_per_threadgroup = ko->threads_per_threadgroup;
  info->threadgroup_mem_bytes = ko->threadgroup_mem_bytes;
  info->uses_barriers = ko->uses_barriers;
  info->private_bytes = ko->private_bytes;
  *args_out = a;
  return 0;
fail:
  PyMem_Free(a);
  return -1;
}

static PyObject *Device_load(DeviceObject *self, PyObject *arg) {
  if (!device_ok(self))
    return NULL;
  if (!PyObject_TypeCheck(arg, &KernelType))
    return PyErr_Format(PyExc_TypeError, "Device.load expects a Kernel, got %.100s",
                        Py_TYPE(arg)->tp_name);
  KernelObject *ko = (KernelObject *)arg;
  tm_kernel_info info;
  tm_kernel_arg *iargs;
  const char *msl;
  if (kernel_info(ko, &info, &iargs) < 0)
    return NULL;
  if (!(msl = PyUnicode_AsUTF8(ko->msl))) {
    PyMem_Free(iargs);
    return NULL;
  }
  ModuleObject *mo = PyObject_New(ModuleObject, &ModuleType);
  if (!mo) {
    PyMem_Free(iargs);
    return NULL;
  }
  mo->m = NULL;
  mo->msl = NULL;
  mo->nargs = info.nargs;
  mo->param_index = PyMem_Calloc((size_t)info.nargs + 1, sizeof *mo->param_index);
  mo->role = PyMem_Calloc((size_t)info.nargs + 1, sizeof *mo->role);
  mo->dtype = PyMem_Calloc((size_t)info.nargs + 1, sizeof *mo->dtype);
  Py_INCREF(self);
  mo->device = (PyObject *)self;
  if (!mo->param_index || !mo->role || !mo->dtype) {
    PyMem_Free(iargs);
    Py_DECREF(mo);
    return PyErr_NoMemory();
  }
  for (int i = 0; i < info.nargs; i++) {
    mo->param_index[i] = info.args[i].param_index;
    mo->role[i] = info.args[i].role;
    mo->dtype[i] = info.args[i].dtype;
    if (info.args[i].param_index == -1 && !mo->msl) { /* device_print/assert: decode records later */
      Py_INCREF(ko->msl);
      mo->msl = ko->msl;
    }
  }
  char *err = NULL;
  tm_status st;
  tm_module *m = NULL;
  Py_INCREF(ko); /* the borrowed strings stay alive while the GIL is released */
  Py_BEGIN_ALLOW_THREADS
  st = tm_module_load(self->d, msl, &info, &m, &err);
  Py_END_ALLOW_THREADS
  Py_DECREF(ko);
  PyMem_Free(iargs);
  if (st != TM_OK) {
    tmpy_raise_msg(PyExc_RuntimeError, st, err, "tm_module_load");
    if (m)
      tm_module_free(m);
    Py_DECREF(mo);
    return NULL;
  }
  tm_free(err);
  mo->m = m;
  return (PyObject *)mo;
}

/* synchronize(): waits for every launch of the device (tm_device_synchronize);
 * raises LaunchError with the first failure among them. */
static PyObject *Device_synchronize(DeviceObject *self, PyObject *unused) {
  if (!device_ok(self))
    return NULL;
  char *err = NULL;
  tm_status st;
  Py_BEGIN_ALLOW_THREADS
  st = tm_device_synchronize(self->d, &err);
  Py_END_ALLOW_THREADS
  if (st != TM_OK) {
    tmpy_raise_msg(LaunchError, st, err, "tm_device_synchronize");
    return NULL;
  }
  tm_free(err);
  Py_RETURN_NONE;
}

/* stats(): tm_device_get_stats as a dict (all zero on the cpu device). */
static PyObject *Device_stats(DeviceObject *self, PyObject *unused) {
  if (!device_ok(self))
    return NULL;
  tm_device_stats st;
  char *err = NULL;
  tm_status rc = tm_device_get_stats(self->d, &st, &err);
  if (rc != TM_OK) {
    tmpy_raise_msg(PyExc_RuntimeError, rc, err, "tm_device_get_stats");
    return NULL;
  }
  tm_free(err);
  return Py_BuildValue(
      "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}",
      "pipeline_compiles", (unsigned long long)st.pipeline_compiles,
      "pipeline_memory_hits", (unsigned long long)st.pipeline_memory_hits,
      "pipeline_disk_hits", (unsigned long long)st.pipeline_disk_hits,
      "buffers_created", (unsigned long long)st.buffers_created,
      "buffers_reused", (unsigned long long)st.buffers_reused,
      "bytes_in_use", (unsigned long long)st.bytes_in_use,
      "bytes_cached", (unsigned long long)st.bytes_cached,
      "bytes_peak", (unsigned long long)st.bytes_peak,
      "bytes_limit", (unsigned long long)st.bytes_limit,
      "zero_copy_args", (unsigned long long)st.zero_copy_args,
      "staged_args", (unsigned long long)st.staged_args,
      "command_buffers", (unsigned long long)st.command_buffers,
      "dispatches", (unsigned long long)st.dispatches, "waits", (unsigned long long)st.waits,
      "tensor_ops_fallbacks", (unsigned long long)st.tensor_ops_fallbacks);
}

/* buffer_new(nbytes) -> (buffer, contents): tm_buffer_new (metal kinds). */
static PyObject *Device_buffer_new(DeviceObject *self, PyObject *arg) {
  if (!device_ok(self))
    return NULL;
  Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
  if (n == -1 && PyErr_Occurred())
    return NULL;
  if (n < 0)
    return PyErr_Format(PyExc_ValueError, "buffer_new: negative size %zd", n);
  void *buf = NULL, *contents = NULL;
  char *err = NULL;
  tm_status st = tm_buffer_new(self->d, (size_t)n, &buf, &contents, &err);
  if (st != TM_OK) {
    tmpy_raise_msg(st == TM_ERR_NOMEM ? PyExc_MemoryError : PyExc_RuntimeError, st, err,
                   "tm_buffer_new");
    return NULL;
  }
  tm_free(err);
  return Py_BuildValue("(NN)", PyLong_FromVoidPtr(buf), PyLong_FromVoidPtr(contents));
}

/* buffer_free(buffer): back to the device's pool (waits for launches first). */
static PyObject *Device_buffer_free(DeviceObject *self, PyObject *arg) {
  if (!device_ok(self))
    return NULL;
  void *buf = PyLong_AsVoidPtr(arg);
  if (!buf && PyErr_Occurred())
    return NULL;
  Py_BEGIN_ALLOW_THREADS
  tm_buffer_free(self->d, buf);
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

/* set_timing(on) -> previous: while on, every launch of the device's modules
 * waits for itself and adds its tm_launch_timed interval to the total. */
static PyObject *Device_set_timing(DeviceObject *self, PyObject *arg) {
  int on = PyObject_IsTrue(arg);
  if (on < 0)
    return NULL;
  PyObject *prev = PyBool_FromLong(self->timing);
  self->timing = on;
  return prev;
}

/* take_timing() -> (ns, launches, source): the timed launches since the last
 * call; source is "gpu", "host" or None (no timed launch ran). */
static PyObject *Device_take_timing(DeviceObject *self, PyObject *unused) {
  const char *src = self->timed_launches == 0 ? NULL
                    : self->time_source == TM_TIME_GPU ? "gpu" : "host";
  PyObject *r = Py_BuildValue("(KKz)", (unsigned long long)self->timed_ns,
                              (unsigned long long)self->timed_launches, src);
  self->timed_ns = self->timed_launches = 0;
  return r;
}

static PyObject *Device_visible_add(DeviceObject *self, PyObject *arg); /* below */

static PyGetSetDef Device_getset[] = {
    {"name", (getter)Device_get_name, NULL, "device name (cpu, metal, metal-sim, cuda)", NULL},
    {"description", (getter)Device_get_description, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *Device_tier_mark(DeviceObject *self, PyObject *unused) {
  if (!device_ok(self))
    return NULL;
  return PyLong_FromUnsignedLongLong(tm_device_tier_mark(self->d));
}

static PyObject *Device_tier_settle(DeviceObject *self, PyObject *arg) {
  if (!device_ok(self))
    return NULL;
  unsigned long long mark = PyLong_AsUnsignedLongLong(arg);
  if (mark == (unsigned long long)-1 && PyErr_Occurred())
    return NULL;
  char *err = NULL;
  tm_status st;
  Py_BEGIN_ALLOW_THREADS
  st = tm_device_tier_settle(self->d, mark, &err);
  Py_END_ALLOW_THREADS
  if (st != TM_OK) {
    tmpy_raise_msg(LaunchError, st, err, "tm_device_tier_settle");
    return NULL;
  }
  tm_free(err);
  Py_RETURN_NONE;
}

static PyMethodDef Device_methods[] = {
    {"load", (PyCFunction)Device_load, METH_O, "load(kernel) -> Module: build the MSL"},
    {"synchronize", (PyCFunction)Device_synchronize, METH_NOARGS,
     "synchronize(): wait for every launch of the device"},
    {"tier_mark", (PyCFunction)Device_tier_mark, METH_NOARGS,
     "tier_mark() -> mark: for tier_settle (tm_device_tier_mark)"},
    {"tier_settle", (PyCFunction)Device_tier_settle, METH_O,
     "tier_settle(mark): build now and wait for the optimised code of every kernel launched "
     "since mark (the emulators' tiers; tm_device_tier_settle)"},
    {"stats", (PyCFunction)Device_stats, METH_NOARGS,
     "stats() -> dict: the device's counters (tm_device_get_stats; zero on cpu)"},
    {"buffer_new", (PyCFunction)Device_buffer_new, METH_O,
     "buffer_new(nbytes) -> (buffer, contents): a device buffer (metal kinds) and its "
     "CPU-visible address; synchronize() before reading what a launch wrote"},
    {"buffer_free", (PyCFunction)Device_buffer_free, METH_O,
     "buffer_free(buffer): give a buffer_new buffer back"},
    {"set_timing", (PyCFunction)Device_set_timing, METH_O,
     "set_timing(on) -> previous: time every launch (tm_launch_timed; each waits)"},
    {"take_timing", (PyCFunction)Device_take_timing, METH_NOARGS,
     "take_timing() -> (ns, launches, 'gpu'|'host'|None): timed launches since last call"},
    {"visible_add", (PyCFunction)Device_visible_add, METH_O,
     "visible_add(memory) -> Visible: register kernel-visible memory (tm_visible_add); memory "
     "is a pointer argument's launch value"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject DeviceType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Device",
    .tp_basicsize = sizeof(DeviceObject),
    .tp_dealloc = (destructor)Device_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Device(name=None): an open triton-metal device (TRITON_METAL_DEVICE when None).",
    .tp_init = (initproc)Device_init,
    .tp_new = PyType_GenericNew,
    .tp_getset = Device_getset,
    .tp_methods = Device_methods,
};

/* ------------------------------------------------------------------ Module */

static void Module_dealloc(ModuleObject *self) {
  if (self->m)
    tm_module_free(self->m);
  PyMem_Free(self->param_index);
  PyMem_Free(self->role);
  PyMem_Free(self->dtype);
  Py_XDECREF(self->msl);
  Py_XDECREF(self->device);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static uint16_t f32_to_f16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
  if (exp == 0xff) /* inf, nan (keep nan quiet) */
    return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
  int e = (int)exp - 127 + 15;
  if (e >= 31)
    return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) { /* subnormal or zero: shift the implicit-1 mantissa, round to nearest even */
    if (e < -10)
      return (uint16_t)sign;
    man |= 0x800000u;
    int shift = 14 - e;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = sign | ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
    h++; /* a carry into the exponent is the correct rounding, up to inf */
  return (uint16_t)h;
}

static uint16_t f32_to_bf16_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

int tmpy_scalar_to_bytes(PyObject *v, tm_dtype dt, unsigned char *slot, size_t *n) {
  long long i = 0;
  unsigned long long u = 0;
  double d = 0;
  if (dt == TM_I1) {
    int b = PyObject_IsTrue(v);
    if (b < 0)
      return -1;
    slot[0] = (unsigned char)b;
    *n = 1;
    return 0;
  }
  if (dt == TM_F16 || dt == TM_BF16 || dt == TM_F32 || dt == TM_F64) {
    d = PyFloat_AsDouble(v);
    if (d == -1.0 && PyErr_Occurred())
      return -1;
    float f = (float)d;
    uint16_t h = dt == TM_F16 ? f32_to_f16_bits(f) : f32_to_bf16_bits(f);
    if (dt == TM_F32)
      memcpy(slot, &f, *n = 4);
    else if (dt == TM_F64)
      memcpy(slot, &d, *n = 8);
    else
      memcpy(slot, &h, *n = 2);
    return 0;
  }
  PyObject *idx = PyNumber_Index(v);
  if (!idx)
    return -1;
  if (dt == TM_U64)
    u = PyLong_AsUnsignedLongLong(idx);
  else
    i = PyLong_AsLongLong(idx);
  Py_DECREF(idx);
  if (PyErr_Occurred())
    return -1;
  int bytes = tm_dtype_bytes(dt);
  int is_unsigned = dt == TM_U8 || dt == TM_U16 || dt == TM_U32;
  if (dt != TM_U64 && bytes < 8) {
    long long lo = is_unsigned ? 0 : -(1LL << (bytes * 8 - 1));
    long long hi = is_unsigned ? (1LL << (bytes * 8)) - 1 : (1LL << (bytes * 8 - 1)) - 1;
    if (i < lo || i > hi) {
      PyErr_Format(PyExc_OverflowError, "value %lld out of range for %s", i, tm_dtype_name(dt));
      return -1;
    }
  }
  if (dt != TM_U64)
    u = (unsigned long long)i;
  switch (bytes) {
  case 1: {
    uint8_t x = (uint8_t)u;
    memcpy(slot, &x, *n = 1);
    return 0;
  }
  case 2: {
    uint16_t x = (uint16_t)u;
    memcpy(slot, &x, *n = 2);
    return 0;
  }
  case 4: {
    uint32_t x = (uint32_t)u;
    memcpy(slot, &x, *n = 4);
    return 0;
  }
  case 8: {
    uint64_t x = (uint64_t)u;
    memcpy(slot, &x, *n = 8);
    return 0;
  }
  }
  PyErr_Format(PyExc_ValueError, "scalar of dtype %d cannot be passed", (int)dt);
  return -1;
}

/* Runtime arguments on the stack up to this many; more go to the heap. */
#define STACK_ARGS 32

/* A pointer argument's memory: (ptr, nbytes, readonly[, before]) of host
 * memory, or (0, nbytes, readonly, buffer, offset[, before]) of an
 * id<MTLBuffer> (then dv->buffer is set). 0, or -1 with an exception set. */
static int parse_memory(PyObject *v, tm_launch_arg *la, tm_device_arg *dv) {
  PyObject *ptr, *nbytes, *buffer = NULL, *offset = NULL, *before = NULL;
  int ro;
  *dv = (tm_device_arg){NULL, 0};
  Py_ssize_t tn = PyTuple_Check(v) ? PyTuple_GET_SIZE(v) : 0;
  if (tn < 3 || tn > 6) {
    PyErr_Format(PyExc_TypeError,
                 "pointer argument must be (ptr, nbytes, readonly[, before]) or (0, nbytes, "
                 "readonly, buffer, offset[, before]), got %.100s",
                 Py_TYPE(v)->tp_name);
    return -1;
  }
  if (tn == 4 ? !PyArg_ParseTuple(v, "OOpO", &ptr, &nbytes, &ro, &before)
              : !PyArg_ParseTuple(v, "OOp|OOO", &ptr, &nbytes, &ro, &buffer, &offset, &before))
    return -1;
  if (buffer && !offset) {
    PyErr_SetString(PyExc_TypeError, "a device-buffer pointer argument needs its offset");
    return -1;
  }
  la->data = PyLong_AsVoidPtr(ptr);
  la->nbytes = PyLong_AsSize_t(nbytes);
  la->readonly = ro;
  la->before = before ? PyLong_AsSize_t(before) : 0;
  if (buffer) {
    dv->buffer = PyLong_AsVoidPtr(buffer);
    dv->offset = PyLong_AsSize_t(offset);
    la->data = NULL;
  }
  return PyErr_Occurred() ? -1 : 0;
}

/* ------------------------------------------------------------------ Ctrl-C
 * Python's SIGINT handler only sets a flag that the interpreter reads between
 * bytecodes, so a kernel that spins on the emulator would keep Ctrl-C waiting
 * forever. Before each emulator launch our handler is put in front of whatever SIGINT
 * handler is installed (Python's, or one the user set with signal.signal, which
 * replaces ours: hence the check per launch, one sigaction call): it asks the
 * runtime to stop the running launches (tm_interrupt, async-signal-safe), then
 * calls the handler it displaced, so Python still raises KeyboardInterrupt.
 * SIGINT left at SIG_DFL (the process dies) or SIG_IGN is left alone. */
static struct sigaction displaced_int;

static void on_sigint(int sig, siginfo_t *si, void *uc) {
  tm_interrupt();
  if (displaced_int.sa_flags & SA_SIGINFO) {
    if (displaced_int.sa_sigaction) displaced_int.sa_sigaction(sig, si, uc);
  } else if (displaced_int.sa_handler != SIG_DFL && displaced_int.sa_handler != SIG_IGN) {
    displaced_int.sa_handler(sig);
  }
}

static void sigint_hook(void) {
  struct sigaction cur;
  if (sigaction(SIGINT, NULL, &cur)) return;
  if (cur.sa_flags & SA_SIGINFO) {
    if (cur.sa_sigaction == on_sigint || !cur.sa_sigaction) return;
  } else if (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN) {
    return;
  }
  displaced_int = cur; /* ours is not installed: no handler of ours reads it now */
  struct sigaction ours = cur;
  ours.sa_sigaction = on_sigint;
  ours.sa_flags = cur.sa_flags | SA_SIGINFO;
  sigaction(SIGINT, &ours, NULL);
}

/* Prefixes the pending error (a value that does not convert to its
 * parameter's type) with the parameter's position. */
static void name_the_argument(int p) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (value)
    PyErr_Format(type, "kernel argument %d (counting from 0): %S", p, value);
  else
    PyErr_Restore(Py_XNewRef(type), NULL, NULL);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
}

int tmpy_launch(ModuleObject *mo, const uint32_t g[3], PyObject *const *vals, Py_ssize_t nvals,
                const PtrArg *ptrs) {
  tm_launch_arg la_stack[STACK_ARGS], *la = la_stack;
  unsigned char slots_stack[STACK_ARGS][8], (*slots)[8] = slots_stack;
  tm_device_arg *dev = NULL; /* allocated at the first device buffer */
  uint32_t *dbg = NULL;      /* device_print/assert records (the hidden argument) */
  size_t dbg_words = (size_t)1 << 20;
  int rc = -1;
  if (!mo->m) {
    PyErr_SetString(PyExc_RuntimeError, "Module is not loaded");
    return -1;
  }
  if (mo->nargs > STACK_ARGS) {
    la = PyMem_Calloc((size_t)mo->nargs, sizeof *la);
    slots = PyMem_Calloc((size_t)mo->nargs, sizeof *slots);
    if (!la || !slots) {
      PyErr_NoMemory();
      goto out;
    }
  }
  for (int i = 0; i < mo->nargs; i++) {
    int p = mo->param_index[i];
    if (p == -1 && mo->role[i] == TM_ARG_BUFFER) {
      if (!dbg && !(dbg = PyMem_Calloc(dbg_words, sizeof *dbg))) {
        PyErr_NoMemory();
        goto out;
      }
      dbg[1] = (uint32_t)dbg_words;
      la[i].data = dbg;
      la[i].nbytes = dbg_words * sizeof *dbg;
      la[i].readonly = 0;
      la[i].before = 0;
      continue;
    }
    if (p < 0 || p >= nvals) {
      PyErr_Format(PyExc_ValueError, "kernel argument %d refers to parameter %d of %zd", i, p,
                   nvals);
      goto out;
    }
    PyObject *v = vals[p];
    if (mo->role[i] == TM_ARG_BUFFER) {
      if (ptrs) {
        la[i].data = ptrs[p].buffer ? NULL : ptrs[p].ptr;
        la[i].nbytes = ptrs[p].nbytes;
        la[i].readonly = ptrs[p].readonly;
        la[i].before = ptrs[p].before;
        if (ptrs[p].buffer) { /* device memory at an offset (the fast path's CUDA tensors) */
          if (!dev && !(dev = PyMem_Calloc((size_t)mo->nargs, sizeof *dev))) {
            PyErr_NoMemory();
            goto out;
          }
          dev[i].buffer = ptrs[p].buffer;
          dev[i].offset = ptrs[p].offset;
        }
        continue;
      }
      tm_device_arg dv;
      if (parse_memory(v, &la[i], &dv) < 0)
        goto out;
      if (dv.buffer) {
        if (!dev && !(dev = PyMem_Calloc((size_t)mo->nargs, sizeof *dev))) {
          PyErr_NoMemory();
          goto out;
        }
        dev[i] = dv;
      }
    } else {
      size_t n = 0;
      if (tmpy_scalar_to_bytes(v, mo->dtype[i], slots[i], &n) < 0) {
        name_the_argument(p);
        goto out;
      }
      la[i].data = slots[i];
      la[i].nbytes = n;
      la[i].readonly = 0;
      la[i].before = 0;
    }
  }
  if (g[0] && g[1] && g[2]) { /* an empty grid launches nothing, as upstream */
    char *err = NULL;
    tm_status st;
    DeviceObject *d = (DeviceObject *)mo->device;
    tm_launch_times t = {TM_TIME_NONE, 0, 0};
    int timing = d->timing;
    if (d->emulated) /* a GPU's dispatch cannot be stopped: no syscall on its launches */
      sigint_hook();
    Py_BEGIN_ALLOW_THREADS
    st = timing ? tm_launch_timed(mo->m, g, la, dev, mo->nargs, &t, &err)
                : tm_launch_ex(mo->m, g, la, dev, mo->nargs, &err);
    Py_END_ALLOW_THREADS
    if (st != TM_OK && PyErr_CheckSignals() < 0) { /* Ctrl-C: Python's KeyboardInterrupt */
      tm_free(err);
      goto out;
    }
    if (st != TM_OK) {
      tmpy_raise_msg(st == TM_ERR_INTERRUPTED ? PyExc_KeyboardInterrupt : LaunchError, st, err,
                     "tm_launch");
      goto out;
    }
    tm_free(err);
    if (dbg && (dbg[0] || dbg[2])) { /* print the records; raise for a failed device_assert */
      size_t used = (size_t)dbg[0] + 4 < dbg_words ? (size_t)dbg[0] + 4 : dbg_words;
      PyObject *mod = PyImport_ImportModule("triton_metal._debug");
      PyObject *r = mod ? PyObject_CallMethod(mod, "report", "Oy#", mo->msl ? mo->msl : Py_None, (const char *)dbg,
                                              (Py_ssize_t)(used * sizeof *dbg))
                        : NULL;
      Py_XDECREF(mod);
      if (!r)
        goto out;
      Py_DECREF(r);
    }
    if (timing && t.source != TM_TIME_NONE) {
      d->timed_ns += t.end_ns - t.start_ns;
      d->timed_launches++;
      d->time_source = t.source;
    }
  }
  rc = 0;
out:
  PyMem_Free(dev);
  PyMem_Free(dbg);
  if (la != la_stack) {
    PyMem_Free(la);
    PyMem_Free(slots);
  }
  return rc;
}

/* ------------------------------------------------------------------ Visible */

/* A registration of kernel-visible memory; removed by release() or when dropped. */
typedef struct {
  PyObject_HEAD
  tm_visible *v;
  PyObject *device; /* keeps the device open while registered */
  uint64_t address;
} VisibleObject;

static void visible_release(VisibleObject *self) {
  if (!self->v)
    return;
  tm_visible *v = self->v;
  tm_device *d = ((DeviceObject *)self->device)->d;
  self->v = NULL;
  Py_BEGIN_ALLOW_THREADS
  tm_visible_remove(d, v); /* waits for launches that may reach it */
  Py_END_ALLOW_THREADS
}

static void Visible_dealloc(VisibleObject *self) {
  visible_release(self);
  Py_XDECREF(self->device);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Visible_release(VisibleObject *self, PyObject *unused) {
  visible_release(self);
  Py_RETURN_NONE;
}

static PyObject *Visible_get_address(VisibleObject *self, void *c) {
  return PyLong_FromUnsignedLongLong(self->address);
}

static PyObject *Visible_get_registered(VisibleObject *self, void *c) {
  return PyBool_FromLong(self->v != NULL);
}

static PyMethodDef Visible_methods[] = {
    {"release", (PyCFunction)Visible_release, METH_NOARGS,
     "release(): unregister (tm_visible_remove); kernels may no longer reach the memory"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Visible_getset[] = {
    {"address", (getter)Visible_get_address, NULL,
     "the address kernels use for the memory's data pointer (for pointer tables)", NULL},
    {"registered", (getter)Visible_get_registered, NULL, "not released yet", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject VisibleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Visible",
    .tp_basicsize = sizeof(VisibleObject),
    .tp_dealloc = (destructor)Visible_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Kernel-visible memory registered on a device (Device.visible_add).",
    .tp_methods = Visible_methods,
    .tp_getset = Visible_getset,
};

static PyObject *Device_visible_add(DeviceObject *self, PyObject *arg) {
  if (!device_ok(self))
    return NULL;
  tm_launch_arg la;
  tm_device_arg dv;
  if (parse_memory(arg, &la, &dv) < 0)
    return NULL;
  VisibleObject *vo = PyObject_New(VisibleObject, &VisibleType);
  if (!vo)
    return NULL;
  vo->v = NULL;
  vo->device = Py_NewRef(self);
  vo->address = 0;
  char *err = NULL;
  tm_status st;
  Py_BEGIN_ALLOW_THREADS
  st = tm_visible_add(self->d, &la, dv.buffer ? &dv : NULL, &vo->v, &vo->address, &err);
  Py_END_ALLOW_THREADS
  if (st != TM_OK) {
    tmpy_raise_msg(st == TM_ERR_NOMEM ? PyExc_MemoryError : PyExc_ValueError, st, err,
                   "tm_visible_add");
    Py_DECREF(vo);
    return NULL;
  }
  tm_free(err);
  return (PyObject *)vo;
}

/* launch(grid, values): grid is a 3-sequence of ints; values one per parameter. */
static PyObject *Module_launch(ModuleObject *self, PyObject *args) {
  PyObject *grid_in, *values, *grid = NULL, *result = NULL;
  uint32_t g[3];
  if (!PyArg_ParseTuple(args, "OO!", &grid_in, &PyTuple_Type, &values))
    return NULL;
  if (!(grid = PySequence_Tuple(grid_in)))
    return NULL;
  if (PyTuple_GET_SIZE(grid) != 3) {
    PyErr_SetString(PyExc_ValueError, "grid must have 3 dimensions");
    goto out;
  }
  for (int i = 0; i < 3; i++) {
    unsigned long long x;
    PyObject *idx = PyNumber_Index(PyTuple_GET_ITEM(grid, i));
    if (!idx)
      goto out;
    x = PyLong_AsUnsignedLongLong(idx);
    Py_DECREF(idx);
    if (PyErr_Occurred() || x > 0xffffffffULL) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "grid dimensions must be integers in [0, 2**32)");
      goto out;
    }
    g[i] = (uint32_t)x;
  }
  if (tmpy_launch(self, g, &PyTuple_GET_ITEM(values, 0), PyTuple_GET_SIZE(values), NULL) < 0)
    goto out;
  result = Py_None;
  Py_INCREF(result);
out:
  Py_XDECREF(grid);
  return result;
}

/* info() -> dict: tm_module_get_info (the device's limits for this kernel). */
static PyObject *Module_info(ModuleObject *self, PyObject *unused) {
  if (!self->m) {
    PyErr_SetString(PyExc_RuntimeError, "Module is not loaded");
    return NULL;
  }
  tm_module_info mi;
  char *err = NULL;
  tm_status st = tm_module_get_info(self->m, &mi, &err);
  if (st != TM_OK) {
    tmpy_raise_msg(PyExc_RuntimeError, st, err, "tm_module_get_info");
    return NULL;
  }
  tm_free(err);
  return Py_BuildValue("{s:i,s:i,s:i}", "max_threads_per_threadgroup",
                       mi.max_threads_per_threadgroup, "thread_execution_width",
                       mi.thread_execution_width, "static_threadgroup_memory",
                       mi.static_threadgroup_memory);
}

static PyMethodDef Module_methods[] = {
    {"launch", (PyCFunction)Module_launch, METH_VARARGS,
     "launch(grid3, values): run the kernel; values has one entry per parameter: a number, "
     "(ptr, nbytes, readonly[, before]) or (0, nbytes, readonly, buffer, offset[, before])"},
    {"info", (PyCFunction)Module_info, METH_NOARGS,
     "info() -> dict: max_threads_per_threadgroup, thread_execution_width, "
     "static_threadgroup_memory, as the device built the kernel"},
    {NULL, NULL, 0, NULL}};

PyTypeObject tmpy_ModuleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "triton_metal._C.Module",
    .tp_basicsize = sizeof(ModuleObject),
    .tp_dealloc = (destructor)Module_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A kernel loaded on a device (from Device.load).",
    .tp_methods = Module_methods,
};

/* ------------------------------------------------------------------ helpers */

/* kernel_from_parts(msl, name, source_file, args, builtins, threads_per_threadgroup,
 * threadgroup_mem_bytes, uses_barriers[, private_bytes[, source_name]]) -> Kernel: a Kernel rebuilt
 * from the fields of one (the disk cache); validated as Device.load will read it. */
static PyObject *py_kernel_from_parts(PyObject *mod, PyObject *args) {
  PyObject *msl, *name, *source_file, *kargs, *builtins, *source_name = Py_None;
  int tpt, tgmem, barriers, priv = 0;
  tm_kernel_info info;
  tm_kernel_arg *iargs;
  if (!PyArg_ParseTuple(args, "UUOO!O!iii|iO", &msl, &name, &source_file, &PyTuple_Type, &kargs,
                        &PyTuple_Type, &builtins, &tpt, &tgmem, &barriers, &priv, &source_name))
    return NULL;
  if (source_name != Py_None && !PyUnicode_Check(source_name))
    return PyErr_Format(PyExc_TypeError, "source_name must be str or None");
  if (source_name == Py_None)
    source_name = name; /* an entry stored before the field existed */
  if (priv < 0)
    return PyErr_Format(PyExc_ValueError, "bad private_bytes %d", priv);
  if (source_file != Py_None && !PyUnicode_Check(source_file))
    return PyErr_Format(PyExc_TypeError, "source_file must be str or None");
  if (tpt <= 0 || tpt > 1024 || tgmem < 0)
    return PyErr_Format(PyExc_ValueError, "bad threads_per_threadgroup %d or memory %d", tpt,
                        tgmem);
  KernelObject *ko = PyObject_New(KernelObject, &KernelType);
  if (!ko)
    return NULL;
  ko->k = NULL;
  Py_INCREF(msl);
  Py_INCREF(name);
  Py_INCREF(source_file);
  Py_INCREF(source_name);
  Py_INCREF(kargs);
  Py_INCREF(builtins);
  Py_INCREF(Py_None);
  ko->msl = msl;
  ko->name = name;
  ko->source_file = source_file;
  ko->source_name = source_name;
  ko->args = kargs;
  ko->builtins = builtins;
  ko->dump = Py_None;
  ko->threads_per_threadgroup = tpt;
  ko->threadgroup_mem_bytes = tgmem;
  ko->uses_barriers = barriers;
  ko->private_bytes = priv;
  if (kernel_info(ko, &info, &iargs) < 0) {
    Py_DECREF(ko);
    return NULL;
  }
  PyMem_Free(iargs);
  return (PyObject *)ko;
}

static PyObject *py_buffer_info(PyObject *mod, PyObject *obj) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_STRIDED_RO) < 0)
    return NULL;
  PyObject *r = Py_BuildValue("(Nnii)", PyLong_FromVoidPtr(view.buf), view.len, view.readonly,
                              PyBuffer_IsContiguous(&view, 'C'));
  PyBuffer_Release(&view);
  return r;
}

/* target() -> (name, key): the compile target (tm_target_get: this machine's, or
 * the one TRITON_METAL_HW names) and a string of every field that can change
 * the emitted code, for cache keys. A bad TRITON_METAL_HW raises ValueError. */
static PyObject *py_target(PyObject *mod, PyObject *unused) {
  const tm_target *t = NULL;
  char *err = NULL;
  tm_status st = tm_target_get(&t, &err);
  if (st != TM_OK) {
    tmpy_raise_msg(PyExc_ValueError, st, err, "tm_target_get");
    return NULL;
  }
  tm_free(err);
  const char *name = t && t->name ? t->name : "unknown";
  if (!t)
    return Py_BuildValue("(ss)", name, name);
  return Py_BuildValue(
      "(sN)", name,
      PyUnicode_FromFormat("%s:family%d:msl%d:simd%d:warps%d:vec%d:tpt%d:tgmem%d:bf%d:sgm%d:mm%d:"
                           "a64%d:fa%d",
                           name, t->gpu_family, t->msl_version, t->simd_width,
                           t->default_num_warps, t->max_vector_bytes,
                           t->max_threads_per_threadgroup, t->threadgroup_mem_bytes,
                           t->has_bfloat, t->has_simdgroup_matrix, t->has_matmul2d,
                           t->has_atomic64, t->has_float_atomics));
}

static PyObject *py_dtype_name(PyObject *mod, PyObject *arg) {
  long d = PyLong_AsLong(arg);
  if (d == -1 && PyErr_Occurred())
    return NULL;
  if (d < 0 || d >= TM_NDTYPES)
    return PyErr_Format(PyExc_ValueError, "bad dtype code %ld", d);
  return str_or_none(tm_dtype_name((tm_dtype)d));
}

static PyObject *py_dtype_bytes(PyObject *mod, PyObject *arg) {
  long d = PyLong_AsLong(arg);
  if (d == -1 && PyErr_Occurred())
    return NULL;
  if (d < 0 || d >= TM_NDTYPES)
    return PyErr_Format(PyExc_ValueError, "bad dtype code %ld", d);
  return PyLong_FromLong(tm_dtype_bytes((tm_dtype)d));
}

/* msl_check(msl) -> None when the cpu emulator would compile it, else the
 * messages (tm_msl_check: the MSL lint, then a syntax-only compile). */
static PyObject *py_msl_check(PyObject *mod, PyObject *arg) {
  const char *msl = PyUnicode_AsUTF8(arg);
  if (!msl)
    return NULL;
  char *err = NULL;
  tm_status st;
  Py_BEGIN_ALLOW_THREADS
  st = tm_msl_check(msl, &err);
  Py_END_ALLOW_THREADS
  if (st == TM_OK) {
    tm_free(err);
    Py_RETURN_NONE;
  }
  PyObject *r = PyUnicode_DecodeUTF8(err ? err : "?", err ? (Py_ssize_t)strlen(err) : 1, "replace");
  tm_free(err);
  return r;
}

static PyMethodDef module_methods[] = {
    {"msl_check", py_msl_check, METH_O,
     "msl_check(msl) -> None when the cpu emulator would compile the MSL, else its messages"},
    {"compile", (PyCFunction)(void (*)(void))py_compile, METH_VARARGS | METH_KEYWORDS,
     "compile(source, filename, first_line, kernel_name, params=(), globals=(), num_warps=0, "
     "debug=False, dump=None, opt_level=0, debug_info=False, args_may_alias=False, target=None) "
     "-> Kernel (target: a preset name; None: the process's target)"},
    {"kernel_from_parts", py_kernel_from_parts, METH_VARARGS,
     "kernel_from_parts(msl, name, source_file, args, builtins, threads_per_threadgroup, "
     "threadgroup_mem_bytes, uses_barriers[, private_bytes[, source_name]]) -> Kernel (from the disk cache)"},
    {"buffer_info", py_buffer_info, METH_O,
     "buffer_info(obj) -> (ptr, nbytes, readonly, c_contiguous)"},
    {"target", py_target, METH_NOARGS, "target() -> (name, key) of the compile target"},
    {"dtype_name", py_dtype_name, METH_O, "tm_dtype_name"},
    {"dtype_bytes", py_dtype_bytes, METH_O, "tm_dtype_bytes"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_C", "triton-metal compiler and runtime (C extension)", -1,
    module_methods,        NULL, NULL,
    NULL,                  NULL};

static int add_int(PyObject *m, const char *name, long v) {
  return PyModule_AddIntConstant(m, name, v);
}

static int add_type(PyObject *m, const char *name, PyTypeObject *t) {
  if (PyType_Ready(t) < 0)
    return -1;
  Py_INCREF(t);
  if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
    Py_DECREF(t);
    return -1;
  }
  return 0;
}

PyMODINIT_FUNC PyInit__C(void) {
  PyObject *m = PyModule_Create(&moduledef);
  if (!m)
    return NULL;
  if (!CompilationError || !LaunchError) {
    /* the classes are Python's (errors.py): CompilationError derives from
       TritonError and chains its cause, as upstream's */
    PyObject *errors = PyImport_ImportModule("triton_metal.errors");
    if (!errors)
      goto fail;
    CompilationError = PyObject_GetAttrString(errors, "CompilationError");
    LaunchError = PyObject_GetAttrString(errors, "LaunchError");
    Py_DECREF(errors);
    if (!CompilationError || !LaunchError)
      goto fail;
  }
  Py_INCREF(CompilationError);
  if (PyModule_AddObject(m, "CompilationError", CompilationError) < 0) {
    Py_DECREF(CompilationError);
    goto fail;
  }
  Py_INCREF(LaunchError);
  if (PyModule_AddObject(m, "LaunchError", LaunchError) < 0) {
    Py_DECREF(LaunchError);
    goto fail;
  }
  if (add_type(m, "Kernel", &KernelType) < 0 || add_type(m, "Device", &DeviceType) < 0 ||
      add_type(m, "Module", &ModuleType) < 0 || add_type(m, "Visible", &VisibleType) < 0 ||
      tmpy_launcher_init(m) < 0)
    goto fail;
  if (PyModule_AddStringConstant(m, "VERSION", TM_VERSION) < 0 ||
      add_int(m, "NDTYPES", TM_NDTYPES) < 0 || add_int(m, "I1", TM_I1) < 0 ||
      add_int(m, "I64", TM_I64) < 0 || add_int(m, "U64", TM_U64) < 0 ||
      add_int(m, "F16", TM_F16) < 0 || add_int(m, "BF16", TM_BF16) < 0 ||
      add_int(m, "F32", TM_F32) < 0 || add_int(m, "F64", TM_F64) < 0 ||
      add_int(m, "V_STR", TM_V_STR) < 0 || add_int(m, "V_TUPLE", TM_V_TUPLE) < 0 ||
      add_int(m, "PARAM_CONSTEXPR", TM_PARAM_CONSTEXPR) < 0 || add_int(m, "PARAM_TUPLE", TM_PARAM_TUPLE) < 0 ||
      add_int(m, "PF_READONLY", TM_PF_READONLY) < 0 || add_int(m, "G_JITFN", TM_G_JITFN) < 0 ||
      add_int(m, "ARG_BYTES", TM_ARG_BYTES) < 0 || add_int(m, "OPT_DEFAULT", TM_OPT_DEFAULT) < 0 ||
      add_int(m, "OPT_NONE", TM_OPT_NONE) < 0 || add_int(m, "OPT_BASIC", TM_OPT_BASIC) < 0 ||
      add_int(m, "OPT_STANDARD", TM_OPT_STANDARD) < 0 ||
      add_int(m, "OPT_AGGRESSIVE", TM_OPT_AGGRESSIVE) < 0)
    goto fail;
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
