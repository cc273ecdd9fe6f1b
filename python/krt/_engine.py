"""Engine and Context: krt_engine and krt_context with numpy and DLPack buffers bound in place."""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _capi, _dlpack
from ._capi import check, fail, lib

PathLike = Union[str, bytes, "os.PathLike[str]"]

_NUMPY_OF: Dict[int, np.dtype] = {_capi.FLOAT32: np.dtype(np.float32), _capi.FLOAT16: np.dtype(np.float16),
             _capi.FLOAT64: np.dtype(np.float64), _capi.INT32: np.dtype(np.int32),
             _capi.INT64: np.dtype(np.int64), _capi.UINT8: np.dtype(np.uint8)}
_KRT_OF = {dtype: code for code, dtype in _NUMPY_OF.items()}
_DEVICES = {"cpu": _capi.DEVICE_CPU, "cuda": _capi.DEVICE_CUDA}
_PRECISIONS = {"fp32": _capi.PRECISION_FP32, "fp16": _capi.PRECISION_FP16,
               "tf32": _capi.PRECISION_TF32}


class TensorInfo(NamedTuple):
    """The declared shape of an engine input or output. `shape` has None for the batch axis (as
    Keras writes it) and for a dimension still unknown; `batch_axis` is 0 for a batched tensor,
    None for one without a batch axis. krt's outputs are always float32 on the host."""
    name: str
    shape: Tuple[Optional[int], ...]
    dtype: np.dtype
    batch_axis: Optional[int]


def _tensor_info(info: _capi.TensorInfo) -> TensorInfo:
    shape = tuple(None if info.dims[i] < 0 else int(info.dims[i]) for i in range(info.rank))
    return TensorInfo(_capi.text(info.name), shape, _NUMPY_OF.get(info.dtype, np.dtype(np.float32)),
                      0 if info.batch_axis == 0 else None)


def _dims(shape: Sequence[int]) -> Tuple[Any, int]:
    return (ctypes.c_int64 * max(len(shape), 1))(*shape), len(shape)


class Engine:
    """An optimised, device-specific krt engine: immutable, shared by any number of contexts on
    any number of threads. Made by krt.build (from a Keras file) or krt.load (a .krt file).
    Usable as a context manager; close() releases it, and closes the contexts still open on it
    first. Garbage collection releases it after its last context, in whatever order the two are
    collected (krt requires the engine to outlive its contexts)."""

    def __init__(self, handle: ctypes.c_void_p) -> None:
        self._handle: Optional[ctypes.c_void_p] = handle
        self._contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()
        # Contexts alive on this engine, counted rather than found through the WeakSet: the
        # collector clears weak references before it runs finalizers.
        self._users = 0
        self._dropped = False
        self._users_lock = threading.RLock()  # RLock: a finalizer may run on a thread holding it
        self.inputs: List[TensorInfo] = self._infos(lib.krt_engine_input_count,
                                                    lib.krt_engine_input_info)
        """The engine's inputs in order: name, shape (None = batch or unknown), dtype."""
        self.outputs: List[TensorInfo] = self._infos(lib.krt_engine_output_count,
                                                     lib.krt_engine_output_info)
        """The engine's outputs in order (float32)."""

    def _infos(self, count_fn: Any, info_fn: Any) -> List[TensorInfo]:
        infos = []
        for index in range(count_fn(self._handle)):
            info = _capi.TensorInfo()
            check(info_fn(self._handle, index, ctypes.byref(info)))
            infos.append(_tensor_info(info))
        return infos

    @property
    def handle(self) -> ctypes.c_void_p:
        """The krt_engine* (for C code of your own); KrtError once closed."""
        if not self._handle:
            raise fail(_capi.ERR_INVALID_ARGUMENT, "krt.Engine: the engine is closed")
        return self._handle

    @property
    def max_batch(self) -> int:
        """The largest batch a run accepts."""
        return int(lib.krt_engine_max_batch(self.handle))

    @property
    def device(self) -> str:
        """"cpu" or "cuda"."""
        return "cuda" if lib.krt_engine_device(self.handle) == _capi.DEVICE_CUDA else "cpu"

    @property
    def precision(self) -> str:
        """"fp32", "fp16" or "tf32"."""
        code = lib.krt_engine_precision(self.handle)
        return {v: k for k, v in _PRECISIONS.items()}.get(code, "fp32")

    @property
    def device_name(self) -> str:
        """The GPU the engine was tuned for ("" for CPU engines)."""
        return _capi.text(lib.krt_engine_device_name(self.handle))

    @property
    def node_count(self) -> int:
        """Nodes of the optimised graph."""
        return int(lib.krt_engine_node_count(self.handle))

    @property
    def activation_bytes(self) -> int:
        """Activation memory one context needs at max batch."""
        return int(lib.krt_engine_activation_bytes(self.handle))

    @property
    def weight_bytes(self) -> int:
        """Weight memory the engine holds on its device."""
        return int(lib.krt_engine_weight_bytes(self.handle))

    def save(self, path: PathLike) -> None:
        """Writes the engine to a .krt file (replaced if it exists); krt.load reads it back."""
        check(lib.krt_engine_save(self.handle, _capi.path_bytes(path)))

    def serialize(self) -> bytes:
        """The .krt file's bytes; krt.load(bytes) reads them back."""
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.krt_engine_serialize(self.handle, ctypes.byref(data), ctypes.byref(size)))
        try:
            return ctypes.string_at(data.value or 0, size.value)
        finally:
            lib.krt_free(data)

    def context(self) -> "Context":
        """A new execution context: the memory of one run at a time. Use one per thread."""
        ctx = Context(self)
        self._contexts.add(ctx)
        return ctx

    def input_index(self, name: str) -> int:
        """The index of the input called `name`; KrtError (not found) names those that exist."""
        index = ctypes.c_size_t()
        check(lib.krt_engine_find_input(self.handle, name.encode(), ctypes.byref(index)))
        return index.value

    def output_index(self, name: str) -> int:
        """The index of the output called `name`; KrtError (not found) names those that exist."""
        index = ctypes.c_size_t()
        check(lib.krt_engine_find_output(self.handle, name.encode(), ctypes.byref(index)))
        return index.value

    def close(self) -> None:
        """Releases the engine, after the contexts still open on it. Idempotent."""
        for ctx in list(self._contexts):
            ctx.close()
        self._drop()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    _release = staticmethod(lib.krt_engine_release)  # still there when __del__ runs at exit

    def __del__(self) -> None:
        if hasattr(self, "_users_lock"):
            self._drop()

    def _drop(self) -> None:
        """No more use by its owner: released now, or by the last context's release."""
        with self._users_lock:
            self._dropped = True
            if self._users == 0 and self._handle:
                self._release(self._handle)
                self._handle = None

    def _attach(self) -> ctypes.c_void_p:
        with self._users_lock:
            handle = self.handle
            self._users += 1
            return handle

    def _detach(self) -> None:
        with self._users_lock:
            self._users -= 1
            if self._dropped and self._users == 0 and self._handle:
                self._release(self._handle)
                self._handle = None

    def __repr__(self) -> str:
        if not self._handle:
            return "<krt.Engine (closed)>"
        ins = ", ".join(f"{i.name}{list(i.shape)}" for i in self.inputs)
        outs = ", ".join(f"{o.name}{list(o.shape)}" for o in self.outputs)
        return (f"<krt.Engine {self.device} {self.precision} max_batch={self.max_batch} "
                f"inputs: {ins}; outputs: {outs}>")


Inputs = Union[Mapping[str, Any], Sequence[Any], Any]


class Context:
    """The memory and state of one run at a time on an engine (krt_context). Not for use by two
    threads at once (that raises KrtError); make one context per thread, as many as you like.
    Keeps its engine alive. Usable as a context manager; close() releases it.

    Buffers, and when they are used in place (zero-copy) or copied:
      numpy inputs   C-contiguous, native byte order, of a dtype krt reads (float32, float16,
                     float64, int32, int64, uint8): the array's own memory is handed to krt, which
                     reads it during the run (krt itself converts float16/float64 data to
                     float32 while reading, as for C callers). krt's rule applies: a float input
                     takes float data, an integer input (token ids) integer data; the other kind
                     raises KrtError with krt's message. A non-contiguous array is copied first
                     (numpy.ascontiguousarray); one of a real dtype krt has no code for is
                     copied into the nearest one of its kind first (bool, int8, int16, uint16 ->
                     int32; uint32, uint64 -> int64; longdouble -> float64). Other dtypes
                     (complex, object, str) raise KrtError. Lists and scalars go through
                     numpy.asarray.
      host outputs   each run allocates fresh numpy float32 arrays and binds them: krt writes the
                     results straight into them (no copy out of the context), and they belong to
                     the caller, unchanged by later runs. out={"name": array} writes into the
                     caller's own array instead (float32, C-contiguous, writable, exact shape).
      DLPack inputs  any object with __dlpack__/__dlpack_device__ (PyTorch, CuPy, JAX arrays;
                     numpy arrays take the numpy path). CUDA (and managed) memory is bound as a
                     device buffer with krt_context_set_input_device: read in place by the
                     engine's nodes when its dtype is the engine's storage dtype (float32, or
                     float16 on an fp16 engine) and it is 64-byte aligned, else converted on the
                     device by krt. It must be C-contiguous (else KrtError: call .contiguous()).
                     CPU DLPack tensors are host buffers, used in place as numpy arrays are.
      DLPack outputs out={"name": tensor} with a CUDA tensor (float32, or float16 on an fp16
                     engine, C-contiguous, exact shape): krt's node writes the result there
                     (zero-copy). Outputs not given in out= come back as host numpy arrays
                     (copied device -> host by krt), so allocate device outputs yourself
                     (torch.empty(..., device="cuda")) to keep everything on the GPU.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._handle: Optional[ctypes.c_void_p] = None
        self._lock = threading.Lock()
        self._in_flight: List[Any] = []  # buffers of an async run not yet synchronised
        handle = ctypes.c_void_p()
        engine_handle = engine._attach()
        try:
            check(lib.krt_context_create(engine_handle, ctypes.byref(handle)))
        except BaseException:
            engine._detach()
            raise
        self._handle = handle

    @property
    def engine(self) -> Engine:
        return self._engine

    def run(self, inputs: Inputs, *, out: Optional[Mapping[str, Any]] = None,
            stream: Optional[int] = None) -> Dict[str, Any]:
        """Runs the engine once and returns {output name: array}, in the engine's output order.

        inputs: {input name: array}, or a list/tuple in the engine's input order, or one array
            for an engine with one input. Every input must be given, every time. All batched
            inputs must agree on the batch (1 .. engine.max_batch).
        out: {output name: array} to write outputs into (see the class docstring); the same
            objects are returned for those names, new numpy arrays for the others.
        stream: a CUDA stream handle as an int (torch.cuda.current_stream().cuda_stream,
            cupy.cuda.get_current_stream().ptr; 0 and 1 mean the legacy default stream, 2 the
            per-thread default stream). The run is enqueued on it (krt_context_run_async):
            the stream's earlier work comes first, its later work after. DLPack producers are
            told this stream, so their pending writes are waited for. When every input and
            output is a device buffer, run() returns without waiting (read the results on that
            stream, or call synchronize()); otherwise it waits for the run. Without `stream`,
            a run with device buffers is ordered after the legacy default stream (DLPack's
            default) and waits for completion; one without device buffers is a plain
            synchronous krt_context_run. The CPU backend ignores the stream.

        Errors (a missing, unknown, misshapen or wrongly typed input, a run that fails) raise
        KrtError with krt's message; then the context has no outputs until a run succeeds.
        """
        if not self._lock.acquire(blocking=False):
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       "krt.Context.run: this context is running on another thread; a context "
                       "is single-threaded (make one context per thread with engine.context())")
        try:
            return self._run(inputs, out or {}, stream)
        finally:
            self._lock.release()

    def synchronize(self) -> None:
        """Waits for the last run (one that run() returned from without waiting)."""
        with self._lock:
            try:
                check(lib.krt_context_synchronize(self._live()))
            finally:
                self._in_flight = []

    def close(self) -> None:
        """Releases the context (waiting for a run still in flight). Idempotent."""
        with self._lock:
            self._release_handle()

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    _release = staticmethod(lib.krt_context_release)  # still there when __del__ runs at exit

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            self._release_handle()

    def _release_handle(self) -> None:
        if self._handle:
            self._release(self._handle)
            self._handle = None
            self._in_flight = []
            self._engine._detach()  # the engine goes last (krt: it must outlive its contexts)

    # ---- one run ---------------------------------------------------------------------------

    def _live(self) -> ctypes.c_void_p:
        if not self._handle:
            raise fail(_capi.ERR_INVALID_ARGUMENT, "krt.Context: the context is closed")
        return self._handle

    def _feeds(self, inputs: Inputs) -> List[Tuple[int, str, Any]]:
        """(index, name, array) for every input given, by name or by position."""
        infos = self._engine.inputs
        if isinstance(inputs, Mapping):
            feeds = []
            for name, value in inputs.items():
                if not isinstance(name, str):
                    raise fail(_capi.ERR_INVALID_ARGUMENT,
                               f"krt.Context.run: input names are strings, not {name!r}")
                index = self._engine.input_index(name)  # krt's "not found" lists the inputs
                feeds.append((index, name, value))
            return feeds
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != len(infos):
                raise fail(_capi.ERR_INVALID_ARGUMENT,
                           f"krt.Context.run: {len(inputs)} inputs given, the engine has "
                           f"{len(infos)} ({', '.join(i.name for i in infos)})")
            return [(i, infos[i].name, v) for i, v in enumerate(inputs)]
        if len(infos) != 1:
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       f"krt.Context.run: one array given, the engine has {len(infos)} inputs "
                       f"({', '.join(i.name for i in infos)}): pass a dict by name")
        return [(0, infos[0].name, inputs)]

    def _bind_input(self, ctx: ctypes.c_void_p, index: int, name: str, value: Any,
                    stream: int, keep: List[Any]) -> Tuple[bool, Optional[int]]:
        """Binds one input; returns (on device, its batch or None)."""
        info = self._engine.inputs[index]
        if _dlpack.is_dlpack(value) and not isinstance(value, np.ndarray):
            device_type, _ = _dlpack.device_of(value)
            if _dlpack.is_device(device_type):
                t = _dlpack.export(value, stream)
                keep.append(t.capsule)
                if not t.contiguous:
                    raise fail(_capi.ERR_INVALID_ARGUMENT,
                               f"krt.Context.run: input '{name}': the device array is not "
                               "C-contiguous (krt copies no strided device memory: pass "
                               "x.contiguous())")
                dims, rank = _dims(t.shape)
                # An unknown dtype goes to krt as INVALID so that krt's message names the input.
                check(lib.krt_context_set_input_device(ctx, index, t.dtype, dims, rank,
                                                       ctypes.c_void_p(t.data)))
                return True, self._batch_of(info, t.shape)
            if device_type not in (_dlpack.CPU, _dlpack.CUDA_HOST):
                raise fail(_capi.ERR_UNSUPPORTED,
                           f"krt.Context.run: input '{name}': DLPack device "
                           f"'{_dlpack.DEVICE_NAMES.get(device_type, device_type)}' (krt takes "
                           "host and CUDA memory)")
            t = _dlpack.export(value, None)
            if t.dtype == _capi.DTYPE_INVALID:
                raise fail(_capi.ERR_INVALID_ARGUMENT,
                           f"krt.Context.run: input '{name}': a DLPack array of {t.dtype_name} "
                           "(krt reads float32, float16, float64, int32, int64 and uint8)")
            if t.contiguous:
                keep.append(t.capsule)
                dims, rank = _dims(t.shape)
                check(lib.krt_context_set_input(ctx, index, t.dtype, dims, rank,
                                                ctypes.c_void_p(t.data), t.nbytes))
                return False, self._batch_of(info, t.shape)
            value = np.from_dlpack(value)  # strided: the numpy path copies it
        array = self._host_array(name, value)
        keep.append(array)
        dims, rank = _dims(array.shape)
        check(lib.krt_context_set_input(ctx, index, _KRT_OF[array.dtype], dims, rank,
                                        ctypes.c_void_p(array.ctypes.data), array.nbytes))
        return False, self._batch_of(info, array.shape)

    @staticmethod
    def _host_array(name: str, value: Any) -> np.ndarray:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       f"krt.Context.run: input '{name}': an array of {array.dtype} (krt reads "
                       "float32, float16, float64, int32, int64 and uint8 data)")
        if array.dtype not in _KRT_OF:
            # A copy into the nearest dtype krt reads, of the same kind, so that krt's own rule
            # (float data for float inputs, integer data for integer inputs) and message apply.
            native = array.dtype.newbyteorder("=")
            if native in _KRT_OF:
                target = native
            elif array.dtype.kind == "f":
                target = np.dtype(np.float64)
            elif array.dtype.kind == "u" and array.dtype.itemsize >= 4:
                target = np.dtype(np.int64)
            else:
                target = np.dtype(np.int32)
            array = array.astype(target)
        return np.ascontiguousarray(array)  # the array itself when already C-contiguous

    @staticmethod
    def _batch_of(info: TensorInfo, shape: Sequence[int]) -> Optional[int]:
        return int(shape[0]) if info.batch_axis == 0 and len(shape) > 0 else None

    def _output_shape(self, info: TensorInfo, batch: int) -> Optional[Tuple[int, ...]]:
        shape = [batch if (axis == info.batch_axis and d is None) else d
                 for axis, d in enumerate(info.shape)]
        known = [d for d in shape if d is not None]
        return tuple(known) if len(known) == len(shape) else None

    def _bind_output(self, ctx: ctypes.c_void_p, index: int, info: TensorInfo, target: Any,
                     shape: Optional[Tuple[int, ...]], stream: int, keep: List[Any]) -> bool:
        """Binds the caller's out= buffer for one output; returns whether it is on the device."""
        where = f"krt.Context.run: out['{info.name}']"
        if shape is None:
            raise fail(_capi.ERR_SHAPE, f"{where}: the output's shape is not known before the run")
        if _dlpack.is_dlpack(target) and not isinstance(target, np.ndarray):
            device_type, _ = _dlpack.device_of(target)
            t = _dlpack.export(target, stream if _dlpack.is_device(device_type) else None)
            keep.append(t.capsule)
            if t.shape != shape or not t.contiguous:
                raise fail(_capi.ERR_SHAPE,
                           f"{where}: {'an' if t.contiguous else 'a non-contiguous'} array of "
                           f"shape {list(t.shape)}; the run writes a C-contiguous array of shape "
                           f"{list(shape)}")
            if _dlpack.is_device(device_type):
                check(lib.krt_context_set_output_device(ctx, index, t.dtype,
                                                        ctypes.c_void_p(t.data), t.nbytes))
                return True
            if t.dtype != _capi.FLOAT32:
                raise fail(_capi.ERR_INVALID_ARGUMENT,
                           f"{where}: a host array of {t.dtype_name}; host outputs are float32")
            check(lib.krt_context_set_output(ctx, index, ctypes.c_void_p(t.data), t.nbytes))
            return False
        if not isinstance(target, np.ndarray):
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       f"{where}: a {type(target).__name__}; give a numpy array or a DLPack "
                       "tensor")
        if (target.dtype != np.float32 or not target.dtype.isnative or target.shape != shape
                or not target.flags.c_contiguous or not target.flags.writeable):
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       f"{where}: needs a writable C-contiguous float32 array of shape "
                       f"{list(shape)}, not {target.dtype} {list(target.shape)}"
                       f"{'' if target.flags.writeable else ' (read-only)'}")
        keep.append(target)
        check(lib.krt_context_set_output(ctx, index, ctypes.c_void_p(target.ctypes.data),
                                         target.nbytes))
        return False

    def _run(self, inputs: Inputs, out: Mapping[str, Any], stream: Optional[int]) -> Dict[str, Any]:
        ctx = self._live()
        engine = self._engine
        # DLPack's numbering: 1 is the legacy default stream, which CUDA also calls 0.
        consumer = 1 if stream in (None, 0) else int(stream)
        keep: List[Any] = []
        any_host = False
        any_device = False
        batch: Optional[int] = None
        given = set()
        for index, name, value in self._feeds(inputs):
            if index in given:
                raise fail(_capi.ERR_INVALID_ARGUMENT,
                           f"krt.Context.run: input '{name}' is given twice")
            given.add(index)
            on_device, b = self._bind_input(ctx, index, name, value, consumer, keep)
            any_device |= on_device
            any_host |= not on_device
            if batch is None:
                batch = b
        # krt keeps a bound input bound: one left out now would read the last run's buffer.
        missing = [i.name for k, i in enumerate(engine.inputs) if k not in given]
        if missing:
            raise fail(_capi.ERR_INVALID_ARGUMENT,
                       f"krt.Context.run: input{'s' if len(missing) > 1 else ''} "
                       f"{', '.join(repr(m) for m in missing)} not given (every run takes every "
                       "input)")
        for name in out:
            engine.output_index(name)  # krt's "not found" lists the outputs
        results: Dict[str, Any] = {}
        unbound: List[int] = []
        try:
            for index, info in enumerate(engine.outputs):
                shape = self._output_shape(info, batch if batch is not None else 1)
                if info.name in out:
                    target = out[info.name]
                    on_device = self._bind_output(ctx, index, info, target, shape, consumer, keep)
                    any_device |= on_device
                    any_host |= not on_device
                    results[info.name] = target
                    continue
                any_host = True
                if shape is None:  # read from the context after the run (a copy)
                    unbound.append(index)
                    check(lib.krt_context_set_output(ctx, index, None, 0))
                    continue
                array = np.empty(shape, dtype=np.float32)
                check(lib.krt_context_set_output(ctx, index, ctypes.c_void_p(array.ctypes.data),
                                                 max(array.nbytes, 1)))
                results[info.name] = array
                keep.append(array)
            if stream is None and not any_device:
                check(lib.krt_context_run(ctx))
            else:
                check(lib.krt_context_run_async(ctx, ctypes.c_void_p(consumer)))
                self._in_flight = []  # krt finished the previous run before enqueuing this one
                if any_host:
                    check(lib.krt_context_synchronize(ctx))
                else:
                    self._in_flight = keep  # krt uses these until the stream completes the run
            for index in unbound:
                view = _capi.TensorView()
                check(lib.krt_context_get_output(ctx, index, ctypes.byref(view)))
                shape = tuple(int(view.dims[i]) for i in range(view.rank))
                count = int(np.prod(shape, dtype=np.int64))
                data = np.ctypeslib.as_array(ctypes.cast(view.data, ctypes.POINTER(ctypes.c_float)),
                                             shape=(count,)) if count else np.empty(0, np.float32)
                results[engine.outputs[index].name] = data.reshape(shape).copy()
        finally:
            # Unbind the outputs: the caller's arrays may go away before the next run.
            for index in range(len(engine.outputs)):
                lib.krt_context_set_output(ctx, index, None, 0)
        return {o.name: results[o.name] for o in engine.outputs}


def _apply_options(options: ctypes.c_void_p, device: str, precision: str, max_batch: Optional[int],
                   outputs: Optional[Iterable[str]],
                   input_shapes: Optional[Mapping[str, Sequence[int]]],
                   timing_cache: Optional[PathLike], mark_all_outputs: bool,
                   signature: Optional[str] = None) -> None:
    if device not in _DEVICES:
        raise fail(_capi.ERR_INVALID_ARGUMENT,
                   f"krt.build: device {device!r} (use 'cpu' or 'cuda')")
    if precision not in _PRECISIONS:
        raise fail(_capi.ERR_INVALID_ARGUMENT,
                   f"krt.build: precision {precision!r} (use 'fp32', 'fp16' or 'tf32')")
    check(lib.krt_build_options_set_device(options, _DEVICES[device]))
    check(lib.krt_build_options_set_precision(options, _PRECISIONS[precision]))
    for name, shape in (input_shapes or {}).items():
        dims, rank = _dims([int(d) for d in shape])
        check(lib.krt_build_options_set_input_shape(options, name.encode(), rank, dims))
    if max_batch is not None:
        check(lib.krt_build_options_set_max_batch(options, int(max_batch)))
    for name in outputs or ():
        check(lib.krt_build_options_add_output(options, name.encode()))
    if timing_cache is not None:
        check(lib.krt_build_options_set_timing_cache(options, _capi.path_bytes(timing_cache)))
    if mark_all_outputs:
        check(lib.krt_build_options_mark_all_outputs(options, 1))
    if signature is not None:
        check(lib.krt_build_options_set_signature(options, signature.encode()))


def build(model: PathLike, device: str = "cpu", precision: str = "fp32",
          max_batch: Optional[int] = None, *, outputs: Optional[Iterable[str]] = None,
          input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
          timing_cache: Optional[PathLike] = None, mark_all_outputs: bool = False,
          signature: Optional[str] = None) -> Engine:
    """Imports a Keras model file (.keras, or .h5 from Keras 1, 2, tf.keras or 3) and builds an
    engine (krt_engine_build).

    device: "cpu" (the float32 reference backend) or "cuda" (libkrt_cuda.so; KrtError "device"
        when it cannot run here). precision: "fp32", "fp16" or "tf32" (the last two CUDA only).
    max_batch: the largest batch a run will take (krt's default is 1, or the batch of
        input_shapes). outputs: layer names to cut the graph at, which become the outputs.
    input_shapes: {input name: full shape, batch included} for inputs whose shape the model
        leaves unknown. timing_cache: a file CUDA tuning reads and writes (faster rebuilds).
    mark_all_outputs: publish every tensor of the optimised graph as an extra output (what
        `krt compare` uses to check a model layer by layer). signature: for a TensorFlow SavedModel
        directory (model may be one), the signature to build (default serving_default).
    Raises KrtError with krt's message (missing file, unsupported layer or option, ...).
    """
    options = ctypes.c_void_p()
    check(lib.krt_build_options_create(ctypes.byref(options)))
    try:
        _apply_options(options, device, precision, max_batch, outputs, input_shapes,
                       timing_cache, mark_all_outputs, signature)
        handle = ctypes.c_void_p()
        check(lib.krt_engine_build(_capi.path_bytes(model), options, ctypes.byref(handle)))
    finally:
        lib.krt_build_options_release(options)
    return Engine(handle)


def load(source: Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]) -> Engine:
    """Loads an engine: from a .krt file (a str or os.PathLike path), or from the file's bytes
    (bytes-like, as Engine.serialize() gives; krt copies them). The file is checked (magic,
    version, checksum, bounds) before use; KrtError says what is wrong."""
    handle = ctypes.c_void_p()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check(lib.krt_engine_load_memory(ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p),
                                         len(data), ctypes.byref(handle)))
    else:
        check(lib.krt_engine_load(_capi.path_bytes(source), ctypes.byref(handle)))
    return Engine(handle)
