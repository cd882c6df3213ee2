/* biofeed._biofeed: the CPython binding over the C API (biofeed/loader.h).
 *
 * Loader wraps a bfd_loader. Iterating it yields one epoch: each batch is a
 * dict of Tensor objects that export DLPack capsules ("dltensor"). A private
 * Batch object owns the bfd_batch; every Tensor holds a reference to it, so
 * the batch is released when the last Tensor (and the dict) is gone, and
 * bfd_batch_wait can still be called for a late __dlpack__(stream=...).
 * Each __dlpack__ call takes a fresh DLManagedTensor from the library, which
 * keeps the batch memory alive on its own until the consumer deletes it.
 *
 * Threads: the GIL is released around the calls that block (open, next,
 * state load, close). A Loader is driven by one thread at a time; a second
 * thread calling in while one is inside next() gets biofeed.Error rather
 * than a race. stats() may be called from any thread at any time. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlpack/dlpack.h>

#include "biofeed/loader.h"

#define MAX_STAGES 16

static PyObject *Error; /* biofeed.Error, a RuntimeError */

/* Raises biofeed.Error with the library's message for this thread and the
 * status name as its `status` attribute. Returns NULL for the caller. */
static PyObject *raise_status(bfd_status s) {
  const char *msg = bfd_last_error();
  if (!msg || !*msg) msg = bfd_status_name(s);
  PyObject *text = PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg), "replace");
  if (!text) return NULL;
  PyObject *exc = PyObject_CallOneArg(Error, text);
  Py_DECREF(text);
  if (!exc) return NULL;
  PyObject *name = PyUnicode_FromString(bfd_status_name(s));
  if (!name || PyObject_SetAttrString(exc, "status", name) < 0) {
    Py_XDECREF(name);
    Py_DECREF(exc);
    return NULL;
  }
  Py_DECREF(name);
  PyErr_SetObject(Error, exc);
  Py_DECREF(exc);
  return NULL;
}

/* ---------------------------------------------------------------- Loader */

typedef struct {
  PyObject_HEAD
  bfd_loader *l;
  int busy;        /* a call is inside the library with the GIL released */
  int closing;     /* close() was called; the handle goes when no batch is alive */
  Py_ssize_t live; /* Batch objects alive */
} LoaderObject;

/* Closes the handle; on failure sets biofeed.Error and returns -1. */
static int loader_close_now(LoaderObject *self) {
  bfd_loader *l = self->l;
  self->l = NULL; /* before the GIL goes: stats() from another thread sees it closed */
  if (!l) return 0;
  bfd_status s;
  Py_BEGIN_ALLOW_THREADS
  s = bfd_loader_close(l);
  Py_END_ALLOW_THREADS
  if (s != BFD_OK) {
    raise_status(s);
    return -1;
  }
  return 0;
}

/* The loader may be used by this call: open, not closing, not busy. */
static int loader_usable(LoaderObject *self) {
  if (!self->l || self->closing) {
    PyErr_SetString(Error, self->closing ? "the Loader is closed" : "the Loader is not open (its __init__ failed or was not called)");
    return 0;
  }
  if (self->busy) {
    PyErr_SetString(Error, "the Loader is in use by another thread (one thread at a time drives a Loader)");
    return 0;
  }
  return 1;
}

static int loader_init(LoaderObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"path", "yaml", "base_dir", "rank", "world_size", NULL};
  PyObject *path_obj = NULL, *base_obj = NULL;
  const char *yaml = NULL;
  int rank = -1, world_size = -1;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O&zO&ii", kwlist, PyUnicode_FSConverter, &path_obj, &yaml,
                                   PyUnicode_FSConverter, &base_obj, &rank, &world_size))
    return -1;
  int rc = -1;
  if (self->l || self->busy) {
    PyErr_SetString(Error, "the Loader is already open");
    goto out;
  }
  if ((path_obj != NULL) == (yaml != NULL)) {
    PyErr_SetString(PyExc_TypeError, "give exactly one of path= and yaml=");
    goto out;
  }
  if (rank < -1 || world_size < -1 || world_size == 0) {
    PyErr_Format(PyExc_ValueError, "rank %d, world_size %d: expected rank >= 0 and world_size >= 1 (or -1: from the config or the launcher)",
                 rank, world_size);
    goto out;
  }
  bfd_loader_options o;
  bfd_loader_options_init(&o);
  o.rank = rank;
  o.world_size = world_size;
  const char *path = path_obj ? PyBytes_AS_STRING(path_obj) : NULL;
  const char *base = base_obj ? PyBytes_AS_STRING(base_obj) : ".";
  bfd_loader *l = NULL;
  bfd_status s;
  self->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  s = path ? bfd_loader_open(path, &o, &l) : bfd_loader_open_string(yaml, base, &o, &l);
  Py_END_ALLOW_THREADS
  self->busy = 0;
  if (s != BFD_OK) {
    raise_status(s);
    goto out;
  }
  self->l = l;
  self->closing = 0;
  rc = 0;
out:
  Py_XDECREF(path_obj);
  Py_XDECREF(base_obj);
  return rc;
}

static void loader_dealloc(LoaderObject *self) {
  /* Batches hold a reference, so none is alive here. A failure is reported
   * without disturbing an exception that may be propagating. */
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (loader_close_now(self) < 0) PyErr_WriteUnraisable(NULL);
  PyErr_Restore(type, value, tb);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *loader_close(LoaderObject *self, PyObject *unused) {
  if (self->busy) {
    PyErr_SetString(Error, "close: the Loader is in use by another thread");
    return NULL;
  }
  self->closing = 1;
  if (self->live == 0 && loader_close_now(self) < 0) return NULL;
  Py_RETURN_NONE;
}

static PyObject *loader_enter(LoaderObject *self, PyObject *unused) {
  Py_INCREF(self);
  return (PyObject *)self;
}

static PyObject *loader_exit(LoaderObject *self, PyObject *args) { return loader_close(self, NULL); }

static Py_ssize_t loader_len(LoaderObject *self) {
  if (!loader_usable(self)) return -1;
  uint64_t steps = 0;
  bfd_status s = bfd_loader_steps_per_epoch(self->l, &steps);
  if (s != BFD_OK) {
    raise_status(s);
    return -1;
  }
  if (steps > (uint64_t)PY_SSIZE_T_MAX) {
    PyErr_SetString(PyExc_OverflowError, "steps per epoch do not fit in a Py_ssize_t");
    return -1;
  }
  return (Py_ssize_t)steps;
}

static PyObject *loader_position(LoaderObject *self, void *closure) {
  if (!loader_usable(self)) return NULL;
  uint32_t epoch = 0;
  uint64_t step = 0;
  bfd_status s = bfd_loader_position(self->l, &epoch, &step);
  if (s != BFD_OK) return raise_status(s);
  return Py_BuildValue("(kK)", (unsigned long)epoch, (unsigned long long)step);
}

static PyObject *loader_state_dict(LoaderObject *self, PyObject *unused) {
  if (!loader_usable(self)) return NULL;
  unsigned char small[256];
  size_t len = 0;
  bfd_status s = bfd_loader_state_save(self->l, small, sizeof small, &len);
  PyObject *bytes = NULL;
  if (s == BFD_OK) {
    bytes = PyBytes_FromStringAndSize((const char *)small, (Py_ssize_t)len);
  } else if (len > sizeof small) {
    /* The state outgrew the stack buffer: len is the size it needs. */
    bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (!bytes) return NULL;
    size_t need = len;
    s = bfd_loader_state_save(self->l, PyBytes_AS_STRING(bytes), need, &len);
    if (s != BFD_OK) {
      Py_DECREF(bytes);
      return raise_status(s);
    }
    if (len != need && _PyBytes_Resize(&bytes, (Py_ssize_t)len) < 0) return NULL;
  } else {
    return raise_status(s);
  }
  if (!bytes) return NULL;
  PyObject *d = Py_BuildValue("{sN}", "biofeed_state", bytes);
  return d;
}

static PyObject *loader_load_state_dict(LoaderObject *self, PyObject *state) {
  if (!loader_usable(self)) return NULL;
  PyObject *blob = PyMapping_Check(state) ? PyMapping_GetItemString(state, "biofeed_state") : NULL;
  if (!blob) {
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError,
                    "load_state_dict: expected the dict that Loader.state_dict() returns (key 'biofeed_state')");
    return NULL;
  }
  Py_buffer view;
  if (PyObject_GetBuffer(blob, &view, PyBUF_SIMPLE) < 0) {
    Py_DECREF(blob);
    return NULL;
  }
  bfd_status s;
  self->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  s = bfd_loader_state_load(self->l, view.buf, (size_t)view.len);
  Py_END_ALLOW_THREADS
  self->busy = 0;
  PyBuffer_Release(&view);
  Py_DECREF(blob);
  if (s != BFD_OK) return raise_status(s);
  Py_RETURN_NONE;
}

static PyObject *loader_stats(LoaderObject *self, PyObject *unused) {
  if (!self->l) {
    PyErr_SetString(Error, "the Loader is closed");
    return NULL;
  }
  bfd_stage_stats st[MAX_STAGES];
  size_t n = 0;
  bfd_status s = bfd_loader_stats(self->l, st, MAX_STAGES, &n);
  if (s != BFD_OK) return raise_status(s);
  if (n > MAX_STAGES) n = MAX_STAGES;
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  for (size_t i = 0; i < n; i++) {
    PyObject *v = Py_BuildValue("{sdsdsdsKsK}", "busy_s", st[i].busy_s, "wait_in_s", st[i].wait_in_s, "wait_out_s",
                                st[i].wait_out_s, "bytes", (unsigned long long)st[i].bytes, "records",
                                (unsigned long long)st[i].records);
    if (!v || PyDict_SetItemString(d, st[i].name ? st[i].name : "?", v) < 0) {
      Py_XDECREF(v);
      Py_DECREF(d);
      return NULL;
    }
    Py_DECREF(v);
  }
  return d;
}

static PyObject *loader_faults(LoaderObject *self, PyObject *unused) {
  if (!self->l) {
    PyErr_SetString(Error, "the Loader is closed");
    return NULL;
  }
  bfd_fault_stats f;
  bfd_status s = bfd_loader_faults(self->l, &f);
  if (s != BFD_OK) return raise_status(s);
  return Py_BuildValue("{sKsKszsKsK}", "records_skipped", (unsigned long long)f.records_skipped, "rows_replaced",
                       (unsigned long long)f.rows_replaced, "last_shard", f.last_shard, "last_record",
                       (unsigned long long)f.last_record, "last_offset", (unsigned long long)f.last_offset);
}

static PyObject *loader_iter(LoaderObject *self);

static PyMethodDef loader_methods[] = {
    {"close", (PyCFunction)loader_close, METH_NOARGS,
     "Stops the pipeline and frees it once no batch from it is alive; later calls raise biofeed.Error."},
    {"state_dict", (PyCFunction)loader_state_dict, METH_NOARGS,
     "{'biofeed_state': bytes}: where the loader is, after the last batch it yielded."},
    {"load_state_dict", (PyCFunction)loader_load_state_dict, METH_O,
     "Continues from a state_dict() of a loader with the same config (any world size)."},
    {"stats", (PyCFunction)loader_stats, METH_NOARGS,
     "{stage: {busy_s, wait_in_s, wait_out_s, bytes, records}} for plan, read, decode, upload, ops, batch. "
     "Safe from any thread."},
    {"faults", (PyCFunction)loader_faults, METH_NOARGS,
     "{records_skipped, rows_replaced, last_shard, last_record, last_offset}: corrupt records skipped in the "
     "batches yielded so far (on_corrupt: skip); last_shard is None until one is. Safe from any thread."},
    {"__enter__", (PyCFunction)loader_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)loader_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef loader_getset[] = {
    {"position", (getter)loader_position, NULL, "(epoch, step) of the next batch.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PySequenceMethods loader_as_sequence = {.sq_length = (lenfunc)loader_len};

static PyTypeObject LoaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "biofeed._biofeed.Loader",
    .tp_basicsize = sizeof(LoaderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Loader(*, path=None, yaml=None, base_dir=None, rank=-1, world_size=-1): the C loader. "
              "Use biofeed.Loader, which takes a config path or YAML text.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)loader_init,
    .tp_dealloc = (destructor)loader_dealloc,
    .tp_iter = (getiterfunc)loader_iter,
    .tp_methods = loader_methods,
    .tp_getset = loader_getset,
    .tp_as_sequence = &loader_as_sequence,
};

/* ----------------------------------------------------------------- Batch */

typedef struct {
  PyObject_HEAD
  LoaderObject *loader;
  bfd_batch *b;
} BatchObject;

static void batch_dealloc(BatchObject *self) {
  LoaderObject *l = self->loader;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (self->b) {
    bfd_status s = bfd_batch_release(self->b);
    if (s != BFD_OK) {
      raise_status(s);
      PyErr_WriteUnraisable((PyObject *)l);
    }
  }
  if (l) {
    l->live--;
    if (l->closing && l->live == 0 && loader_close_now(l) < 0) PyErr_WriteUnraisable((PyObject *)l);
  }
  PyErr_Restore(type, value, tb);
  Py_XDECREF(l);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "biofeed._biofeed._Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Owns one bfd_batch until the last Tensor taken from it is gone.",
    .tp_dealloc = (destructor)batch_dealloc,
};

/* ---------------------------------------------------------------- Tensor */

typedef struct {
  PyObject_HEAD
  BatchObject *batch;
  size_t index;
  PyObject *name;
  DLManagedTensor *meta; /* our own view, for shape, dtype and device */
} TensorObject;

static void tensor_dealloc(TensorObject *self) {
  if (self->meta && self->meta->deleter) self->meta->deleter(self->meta);
  Py_XDECREF(self->name);
  Py_XDECREF(self->batch);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Frees the DLManagedTensor unless a consumer took it (renamed the capsule). */
static void capsule_destructor(PyObject *cap) {
  if (PyCapsule_IsValid(cap, "used_dltensor")) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  DLManagedTensor *t = PyCapsule_GetPointer(cap, "dltensor");
  if (t) {
    if (t->deleter) t->deleter(t);
  } else {
    PyErr_WriteUnraisable(cap);
  }
  PyErr_Restore(type, value, tb);
}

static PyObject *tensor_dlpack(TensorObject *self, PyObject *args, PyObject *kwds) {
  static char *kwlist[] = {"stream", "max_version", "dl_device", "copy", NULL};
  PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None, *copy = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOO", kwlist, &stream, &max_version, &dl_device, &copy))
    return NULL;
  const DLDevice dev = self->meta->dl_tensor.device;
  if (copy != Py_None && PyObject_IsTrue(copy)) {
    PyErr_SetString(PyExc_BufferError, "biofeed tensors are exported without a copy; copy=True is not supported");
    return NULL;
  }
  if (dl_device != Py_None) {
    int type = 0, id = 0;
    if (!PyArg_ParseTuple(dl_device, "ii;dl_device must be a (device_type, device_id) tuple", &type, &id))
      return NULL;
    if (type != (int)dev.device_type || id != dev.device_id) {
      PyErr_Format(PyExc_BufferError, "dl_device (%d, %d): this tensor lives on (%d, %d) and is not copied", type, id,
                   (int)dev.device_type, dev.device_id);
      return NULL;
    }
  }
  /* Array API stream values for CUDA: None or 1 the legacy default stream,
   * 2 the per-thread default stream, -1 no synchronization, else a
   * cudaStream_t as an integer; 0 is ambiguous and refused. */
  int sync = 1;
  void *cuda_stream = NULL;
  if (stream != Py_None) {
    long long v = PyLong_AsLongLong(stream);
    if (v == -1 && PyErr_Occurred()) return NULL;
    if (v == 0) {
      PyErr_SetString(PyExc_ValueError, "stream=0 is ambiguous; pass 1 for the legacy default stream");
      return NULL;
    }
    if (v == -1) sync = 0;
    else if (v < -1) {
      PyErr_Format(PyExc_ValueError, "stream=%lld is not a stream", v);
      return NULL;
    }
    else cuda_stream = (void *)(uintptr_t)v;
  }
  if (sync && dev.device_type == kDLCUDA) {
    bfd_status s = bfd_batch_wait(self->batch->b, cuda_stream);
    if (s != BFD_OK) return raise_status(s);
  }
  const char *name;
  DLManagedTensor *t = NULL;
  bfd_status s = bfd_batch_output(self->batch->b, self->index, &name, &t);
  if (s != BFD_OK) return raise_status(s);
  PyObject *cap = PyCapsule_New(t, "dltensor", capsule_destructor);
  if (!cap && t->deleter) t->deleter(t);
  return cap;
}

static PyObject *tensor_dlpack_device(TensorObject *self, PyObject *unused) {
  return Py_BuildValue("(ii)", (int)self->meta->dl_tensor.device.device_type, self->meta->dl_tensor.device.device_id);
}

static PyObject *tensor_shape(TensorObject *self, void *closure) {
  const DLTensor *t = &self->meta->dl_tensor;
  PyObject *tup = PyTuple_New(t->ndim);
  if (!tup) return NULL;
  for (int i = 0; i < t->ndim; i++) {
    PyObject *v = PyLong_FromLongLong(t->shape[i]);
    if (!v) {
      Py_DECREF(tup);
      return NULL;
    }
    PyTuple_SET_ITEM(tup, i, v);
  }
  return tup;
}

/* The numpy name of a DLPack dtype, e.g. "int64", "bfloat16". */
static void dtype_name(DLDataType d, char *buf, size_t cap) {
  const char *kind = "unknown";
  switch (d.code) {
    case kDLInt: kind = "int"; break;
    case kDLUInt: kind = "uint"; break;
    case kDLFloat: kind = "float"; break;
    case kDLBfloat: kind = "bfloat"; break;
    case kDLComplex: kind = "complex"; break;
    default: break;
  }
  if (d.lanes != 1) snprintf(buf, cap, "%s%ux%u", kind, (unsigned)d.bits, (unsigned)d.lanes);
  else snprintf(buf, cap, "%s%u", kind, (unsigned)d.bits);
}

static PyObject *tensor_dtype(TensorObject *self, void *closure) {
  char buf[32];
  dtype_name(self->meta->dl_tensor.dtype, buf, sizeof buf);
  return PyUnicode_FromString(buf);
}

static const char *device_name(DLDeviceType t) {
  switch (t) {
    case kDLCPU: return "cpu";
    case kDLCUDA: return "cuda";
    case kDLCUDAHost: return "cuda_host";
    default: return "other";
  }
}

static PyObject *tensor_device(TensorObject *self, void *closure) {
  DLDevice d = self->meta->dl_tensor.device;
  if (d.device_type == kDLCUDA) return PyUnicode_FromFormat("cuda:%d", d.device_id);
  return PyUnicode_FromString(device_name(d.device_type));
}

static PyObject *tensor_nbytes(TensorObject *self, void *closure) {
  const DLTensor *t = &self->meta->dl_tensor;
  unsigned long long n = ((unsigned long long)t->dtype.bits * t->dtype.lanes + 7) / 8;
  for (int i = 0; i < t->ndim; i++) n *= (unsigned long long)t->shape[i];
  return PyLong_FromUnsignedLongLong(n);
}

static PyObject *tensor_ndim(TensorObject *self, void *closure) { return PyLong_FromLong(self->meta->dl_tensor.ndim); }

static PyObject *tensor_repr(TensorObject *self) {
  PyObject *shape = tensor_shape(self, NULL);
  PyObject *device = tensor_device(self, NULL);
  char dt[32];
  dtype_name(self->meta->dl_tensor.dtype, dt, sizeof dt);
  PyObject *r = shape && device ? PyUnicode_FromFormat("biofeed.Tensor(name=%R, shape=%R, dtype=%s, device=%U)",
                                                       self->name, shape, dt, device)
                                : NULL;
  Py_XDECREF(shape);
  Py_XDECREF(device);
  return r;
}

static PyMethodDef tensor_methods[] = {
    {"__dlpack__", (PyCFunction)(void (*)(void))tensor_dlpack, METH_VARARGS | METH_KEYWORDS,
     "__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None): a 'dltensor' capsule viewing this "
     "output without a copy. For CUDA tensors, `stream` (array API values) is made to wait until the batch is "
     "ready."},
    {"__dlpack_device__", (PyCFunction)tensor_dlpack_device, METH_NOARGS, "(DLPack device type, device id)."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef tensor_getset[] = {
    {"shape", (getter)tensor_shape, NULL, "The shape, a tuple of ints.", NULL},
    {"dtype", (getter)tensor_dtype, NULL, "The element type by its numpy name: 'int64', 'float32', 'bfloat16', ...",
     NULL},
    {"device", (getter)tensor_device, NULL, "'cpu', 'cuda_host' (pinned) or 'cuda:N'.", NULL},
    {"nbytes", (getter)tensor_nbytes, NULL, "Bytes of the elements.", NULL},
    {"ndim", (getter)tensor_ndim, NULL, "Number of axes.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMemberDef tensor_members[] = {
    {"name", T_OBJECT_EX, offsetof(TensorObject, name), READONLY, "The output's name: 'ids', 'image', ..."},
    {NULL, 0, 0, 0, NULL}};

static PyTypeObject TensorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "biofeed.Tensor",
    .tp_basicsize = sizeof(TensorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One output of a batch. Hand it to torch.from_dlpack, numpy.from_dlpack, jax.dlpack.from_dlpack or "
              "cupy.from_dlpack: they view its memory without copying.",
    .tp_dealloc = (destructor)tensor_dealloc,
    .tp_repr = (reprfunc)tensor_repr,
    .tp_methods = tensor_methods,
    .tp_getset = tensor_getset,
    .tp_members = tensor_members,
};

/* ----------------------------------------------------------------- Epoch */

typedef struct {
  PyObject_HEAD
  LoaderObject *loader;
  int done;
} EpochObject;

static void epoch_dealloc(EpochObject *self) {
  Py_XDECREF(self->loader);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The dict {name: Tensor} of a batch that `batch` owns. */
static PyObject *batch_dict(BatchObject *batch) {
  bfd_batch_info info;
  bfd_status s = bfd_batch_info_get(batch->b, &info);
  if (s != BFD_OK) return raise_status(s);
  PyObject *d = PyDict_New();
  if (!d) return NULL;
  for (size_t i = 0; i < info.n_outputs; i++) {
    const char *name = NULL;
    DLManagedTensor *t = NULL;
    s = bfd_batch_output(batch->b, i, &name, &t);
    if (s != BFD_OK) {
      Py_DECREF(d);
      return raise_status(s);
    }
    TensorObject *to = PyObject_New(TensorObject, &TensorType);
    if (!to) {
      if (t->deleter) t->deleter(t);
      Py_DECREF(d);
      return NULL;
    }
    to->meta = t;
    to->index = i;
    Py_INCREF(batch);
    to->batch = batch;
    to->name = PyUnicode_FromString(name);
    if (!to->name || PyDict_SetItem(d, to->name, (PyObject *)to) < 0) {
      Py_DECREF(to);
      Py_DECREF(d);
      return NULL;
    }
    Py_DECREF(to);
  }
  return d;
}

static PyObject *epoch_next(EpochObject *self) {
  if (self->done) return NULL;
  LoaderObject *l = self->loader;
  if (!loader_usable(l)) return NULL;
  bfd_batch *b = NULL;
  bfd_status s;
  l->busy = 1;
  Py_BEGIN_ALLOW_THREADS
  s = bfd_loader_next(l->l, &b);
  Py_END_ALLOW_THREADS
  l->busy = 0;
  if (s != BFD_OK) return raise_status(s);
  if (!b) {
    self->done = 1;
    return NULL;
  }
  BatchObject *batch = PyObject_New(BatchObject, &BatchType);
  if (!batch) {
    bfd_batch_release(b);
    return NULL;
  }
  batch->b = b;
  Py_INCREF(l);
  batch->loader = l;
  l->live++;
  PyObject *d = batch_dict(batch);
  Py_DECREF(batch);
  return d;
}

static PyTypeObject EpochType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "biofeed._biofeed._Epoch",
    .tp_basicsize = sizeof(EpochObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Iterator over the rest of the current epoch (or the next one).",
    .tp_dealloc = (destructor)epoch_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)epoch_next,
};

static PyObject *loader_iter(LoaderObject *self) {
  if (!loader_usable(self)) return NULL;
  EpochObject *e = PyObject_New(EpochObject, &EpochType);
  if (!e) return NULL;
  Py_INCREF(self);
  e->loader = self;
  e->done = 0;
  return (PyObject *)e;
}

/* ----------------------------------------------------------------- module */

/* Library warnings go to stderr: they can come from pipeline threads that
 * do not hold the GIL, and must not depend on the interpreter being alive. */
static void log_to_stderr(bfd_log_level level, const char *msg, void *user) {
  static const char *const names[] = {"debug", "info", "warning", "error"};
  fprintf(stderr, "biofeed: %s: %s\n", names[level], msg);
}

static PyObject *mod_version(PyObject *mod, PyObject *unused) { return PyUnicode_FromString(bfd_version()); }

static PyMethodDef module_methods[] = {
    {"version", mod_version, METH_NOARGS, "The C library's version string."}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "biofeed._biofeed",
    .m_doc = "The C extension under the biofeed package; use biofeed instead.",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_type(PyObject *m, PyTypeObject *t, const char *name) {
  if (PyType_Ready(t) < 0) return -1;
  Py_INCREF(t);
  if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
    Py_DECREF(t);
    return -1;
  }
  return 0;
}

PyMODINIT_FUNC PyInit__biofeed(void) {
  PyObject *m = PyModule_Create(&moduledef);
  if (!m) return NULL;
  Error = PyErr_NewExceptionWithDoc("biofeed.Error",
                                    "A biofeed library call failed. str(e) is the library's message (what, where, "
                                    "what to do); e.status names the status, e.g. 'BFD_ERR_FORMAT'.",
                                    PyExc_RuntimeError, NULL);
  if (!Error) goto fail;
  Py_INCREF(Error); /* one reference for the module, one for raise_status */
  if (PyModule_AddObject(m, "Error", Error) < 0) {
    Py_DECREF(Error);
    goto fail;
  }
  if (add_type(m, &LoaderType, "Loader") < 0 || add_type(m, &TensorType, "Tensor") < 0 ||
      PyType_Ready(&BatchType) < 0 || PyType_Ready(&EpochType) < 0)
    goto fail;
  bfd_set_log(log_to_stderr, NULL, BFD_LOG_WARN);
  return m;
fail:
  Py_DECREF(m);
  return NULL;
}
