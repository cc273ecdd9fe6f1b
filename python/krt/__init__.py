"""krt for Python: build Keras models into krt engines and run them, over libkrt (include/krt.h).

    >>> import krt, numpy as np
    >>> engine = krt.build("model.keras", device="cpu", max_batch=8)
    >>> engine.inputs
    [TensorInfo(name='input_1', shape=(None, 28, 28, 1), dtype=dtype('float32'), batch_axis=0)]
    >>> ctx = engine.context()                       # one per thread
    >>> ctx.run({"input_1": np.zeros((2, 28, 28, 1), np.float32)})
    {'dense': array([[...]], dtype=float32)}
    >>> engine.save("model.krt"); krt.load("model.krt")

The binding is ctypes over the C API (python/krt/_capi.py says why). Inputs and outputs are
used in place where they can be (Context says exactly when), numpy on the host and DLPack
tensors (PyTorch, CuPy, JAX) on the GPU. Every failure raises KrtError with krt's message.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

from . import _capi
from ._capi import KrtError
from ._engine import Context, Engine, TensorInfo, build, load

__all__ = ["Context", "Engine", "KrtError", "TensorInfo", "build", "build_info", "device_info",
           "get_library", "load", "version"]


def version() -> str:
    """The version of the libkrt in use ("0.1.0"; krt_version_string)."""
    return _capi.text(_capi.lib.krt_version_string())


def build_info() -> str:
    """How that libkrt was built: commit, build type, CUDA module, sanitizers, debug hooks."""
    return _capi.text(_capi.lib.krt_build_info())


def device_info(device: str = "cuda") -> str:
    """One line about a backend in this process ("cuda": runtime, driver, cuDNN, GPUs; loads the
    CUDA module). KrtError (code "device") says why, where it cannot run."""
    if device not in ("cpu", "cuda"):
        raise _capi.fail(_capi.ERR_INVALID_ARGUMENT,
                         f"krt.device_info: device {device!r} (use 'cpu' or 'cuda')")
    out = ctypes.c_void_p()
    code = _capi.DEVICE_CUDA if device == "cuda" else _capi.DEVICE_CPU
    _capi.check(_capi.lib.krt_device_info(code, ctypes.byref(out)))
    return _capi.owned_string(out)


def get_library() -> str:
    """The path of the libkrt.so this package loaded."""
    return str(Path(_capi.lib._name).resolve()) if "/" in _capi.lib._name else _capi.lib._name


__version__ = version()
