/*
 * _C.h: what the files of the triton_metal._C extension share.
 *
 *   _C.c        module init, compile, Kernel, Device, Module (+ Module.launch)
 *   launcher.c  Dispatcher: the per-launch path of @jit kernels (binding,
 *               specialization key, cache lookup, dispatch) without Python code
 */
#ifndef TRITON_METAL_C_H
#define TRITON_METAL_C_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "triton_metal.h"

#if PY_VERSION_HEX < 0x030A0000 /* 3.9 */
static inline PyObject *tmpy_newref(PyObject *o) {
  Py_INCREF(o);
  return o;
}
#define Py_NewRef(o) tmpy_newref((PyObject *)(o))
static inline int PyModule_AddObjectRef(PyObject *m, const char *name, PyObject *o) {
  Py_INCREF(o);
  if (PyModule_AddObject(m, name, o) < 0) {
    Py_DECREF(o);
    return -1;
  }
  return 0;
}
#endif

extern PyObject *tmpy_CompilationError;
extern PyObject *tmpy_LaunchError;
extern PyTypeObject tmpy_ModuleType;

/* A kernel loaded on a device (Python type triton_metal._C.Module). */
typedef struct {
  PyObject_HEAD
  tm_module *m;
  PyObject *device; /* keeps the device open while the module lives */
  int nargs;
  int *param_index; /* per runtime argument: the kernel parameter it comes from */
  tm_arg_role *role;
  tm_dtype *dtype;
  PyObject *msl;    /* the MSL text, kept when the kernel has device_print/assert sites */
} ModuleObject;

/* The memory of one pointer argument, as handed to tm_launch: the view's data
 * pointer and the allocation around it (tm_launch_arg's before and nbytes). */
typedef struct {
  tm_dtype dtype;
  void *ptr;
  size_t nbytes; /* from ptr to the end of the allocation */
  int readonly;
  size_t before; /* bytes of the allocation below ptr */
  /* device memory (the fast path's torch CUDA tensors): bound as tm_device_arg
   * {buffer, offset}; ptr is then the device address buffer + offset, for the
   * alignment and the overlap test; NULL for host memory */
  void *buffer;
  size_t offset;
} PtrArg;

/* The one place that turns a pointer argument (an array or tensor object) into
 * device-visible memory. Returns 1 and fills *out when obj is usable as it is
 * (any strides: the kernel gets the view's data pointer and may address the
 * whole allocation around it); 0 when it is not a kind handled here or not
 * usable (not on the CPU, unknown dtype): the caller then takes the Python
 * path (jit.pointer_arg), which handles more kinds and explains refusals; -1
 * with an exception set (a view that reaches outside the memory of the array
 * it views). Kinds handled: buffer-protocol objects (NumPy arrays) and torch
 * CPU tensors. New kinds (torch MPS tensors, MLX arrays) go here. */
int tmpy_pointer_arg(PyObject *obj, PtrArg *out);

/* Raises `exc` with the library's message (or a generic one) and frees it. */
void tmpy_raise_msg(PyObject *exc, tm_status st, char *err, const char *what);

/* Converts a Python number to dtype dt into slot (8 bytes); *n gets its size. */
int tmpy_scalar_to_bytes(PyObject *v, tm_dtype dt, unsigned char *slot, size_t *n);

/* Launches mo on grid g. vals[p] is the value of kernel parameter p (nvals of
 * them); for a pointer parameter ptrs[p] is its memory when ptrs is not NULL,
 * otherwise vals[p] is a (ptr, nbytes, readonly[, before]) tuple (or the
 * device-buffer form, see Module.launch). Releases the GIL
 * around tm_launch. 0 or -1 with an exception set. */
int tmpy_launch(ModuleObject *mo, const uint32_t g[3], PyObject *const *vals, Py_ssize_t nvals,
                const PtrArg *ptrs);

/* Adds the Dispatcher and Launcher types and the pointer_arg function to m. */
int tmpy_launcher_init(PyObject *m);

#endif
