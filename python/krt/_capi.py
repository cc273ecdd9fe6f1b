"""ctypes declarations of include/krt.h, the library's loading, and statuses turned into KrtError.

Why ctypes and not a CPython extension: krt's C API is already a small, stable C ABI with opaque
handles, so a binding needs no C of its own. With ctypes the wheel holds libkrt.so and pure
Python, is not tied to one CPython version (one py3 wheel for every Python), and needs no
compiler beyond the one that builds libkrt. Zero-copy does not suffer: krt borrows the caller's
buffers, and ctypes passes a numpy array's data pointer (or a DLPack tensor's) straight through.
ctypes releases the GIL for the duration of every foreign call, so contexts on several threads
run in parallel. The cost is a few microseconds of call overhead per bound tensor and per run.

Only this module knows the C declarations; the rest of the package uses `lib` and `check`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Optional

MAX_RANK = 8  # KRT_MAX_RANK

# krt_dtype
DTYPE_INVALID, FLOAT32, FLOAT16, FLOAT64, INT32, INT64, UINT8 = range(7)
# krt_device, krt_precision
DEVICE_CPU, DEVICE_CUDA = 0, 1
PRECISION_FP32, PRECISION_FP16, PRECISION_TF32 = 0, 1, 2
# krt_code values this package raises itself (the others come from libkrt).
ERR_INVALID_ARGUMENT = 1
ERR_NOT_FOUND = 2
ERR_UNSUPPORTED = 6
ERR_SHAPE = 7


class KrtError(Exception):
    """A failed krt call: `code` is krt's status code (krt_code, an int), `code_name` its short
    name ("invalid argument", "not found", "bad file", ...) and `message` krt's one-line message,
    which names the file, layer, input or option concerned. str(error) is the message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message
        self.code_name = _code_name(self.code)

    def __repr__(self) -> str:
        return f"KrtError({self.code_name!r}, {self.message!r})"


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("dims", ctypes.c_int64 * MAX_RANK), ("batch_axis", ctypes.c_int)]


class TensorView(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("dims", ctypes.c_int64 * MAX_RANK), ("data", ctypes.c_void_p)]


def _find_library() -> str:
    """libkrt.so: $KRT_LIBRARY (a development build), the copy installed inside this package
    (pip install .: krt/lib/), else the dynamic loader's search path (an installed krt)."""
    env = os.environ.get("KRT_LIBRARY")
    if env:
        return env
    bundled = sorted((Path(__file__).resolve().parent / "lib").glob("libkrt.so*"),
                     key=lambda p: len(p.name))
    if bundled:
        return str(bundled[0])
    found = ctypes.util.find_library("krt")
    if found:
        return found
    raise ImportError("krt: libkrt.so not found: not in this package's lib folder, not on the "
                      "loader's path; install the package with `pip install .` from a krt "
                      "checkout, or set KRT_LIBRARY to a libkrt.so")


_p = ctypes.c_void_p
_status = ctypes.c_void_p  # krt_status*: None on success
_size = ctypes.c_size_t
_i64 = ctypes.c_int64
_int = ctypes.c_int
_str = ctypes.c_char_p

# name: (restype, argtypes). Handles are void* to Python: the package never looks inside them.
_PROTOTYPES = {
    "krt_status_code": (_int, [_status]),
    "krt_status_message": (_str, [_status]),
    "krt_status_release": (None, [_status]),
    "krt_code_name": (_str, [_int]),
    "krt_version_string": (_str, []),
    "krt_build_info": (_str, []),
    "krt_device_info": (_status, [_int, ctypes.POINTER(_p)]),
    "krt_free": (None, [_p]),
    "krt_build_options_create": (_status, [ctypes.POINTER(_p)]),
    "krt_build_options_release": (None, [_p]),
    "krt_build_options_add_output": (_status, [_p, _str]),
    "krt_build_options_mark_all_outputs": (_status, [_p, _int]),
    "krt_build_options_set_input_shape": (_status, [_p, _str, _int, ctypes.POINTER(_i64)]),
    "krt_build_options_set_max_batch": (_status, [_p, _i64]),
    "krt_build_options_set_device": (_status, [_p, _int]),
    "krt_build_options_set_precision": (_status, [_p, _int]),
    "krt_build_options_set_timing_cache": (_status, [_p, _str]),
    "krt_build_options_set_signature": (_status, [_p, _str]),
    "krt_engine_build": (_status, [_str, _p, ctypes.POINTER(_p)]),
    "krt_engine_save": (_status, [_p, _str]),
    "krt_engine_serialize": (_status, [_p, ctypes.POINTER(_p), ctypes.POINTER(_size)]),
    "krt_engine_load": (_status, [_str, ctypes.POINTER(_p)]),
    "krt_engine_load_memory": (_status, [_p, _size, ctypes.POINTER(_p)]),
    "krt_engine_release": (None, [_p]),
    "krt_engine_input_count": (_size, [_p]),
    "krt_engine_output_count": (_size, [_p]),
    "krt_engine_input_info": (_status, [_p, _size, ctypes.POINTER(TensorInfo)]),
    "krt_engine_output_info": (_status, [_p, _size, ctypes.POINTER(TensorInfo)]),
    "krt_engine_find_input": (_status, [_p, _str, ctypes.POINTER(_size)]),
    "krt_engine_find_output": (_status, [_p, _str, ctypes.POINTER(_size)]),
    "krt_engine_max_batch": (_i64, [_p]),
    "krt_engine_device": (_int, [_p]),
    "krt_engine_precision": (_int, [_p]),
    "krt_engine_node_count": (_size, [_p]),
    "krt_engine_activation_bytes": (_i64, [_p]),
    "krt_engine_weight_bytes": (_i64, [_p]),
    "krt_engine_device_name": (_str, [_p]),
    "krt_engine_run_device_name": (_str, [_p]),
    "krt_context_create": (_status, [_p, ctypes.POINTER(_p)]),
    "krt_context_release": (None, [_p]),
    "krt_context_set_input": (_status, [_p, _size, _int, ctypes.POINTER(_i64), _int, _p, _size]),
    "krt_context_set_output": (_status, [_p, _size, _p, _size]),
    "krt_context_set_input_device": (_status, [_p, _size, _int, ctypes.POINTER(_i64), _int, _p]),
    "krt_context_set_output_device": (_status, [_p, _size, _int, _p, _size]),
    "krt_context_run": (_status, [_p]),
    "krt_context_run_async": (_status, [_p, _p]),
    "krt_context_synchronize": (_status, [_p]),
    "krt_context_get_output": (_status, [_p, _size, ctypes.POINTER(TensorView)]),
}


def _load() -> ctypes.CDLL:
    path = _find_library()
    try:
        library = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"krt: cannot load {path}: {e}") from e
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            function = getattr(library, name)
        except AttributeError as e:
            raise ImportError(f"krt: {path} has no {name} (a libkrt older than this package?)") \
                from e
        function.restype = restype
        function.argtypes = argtypes
    return library


lib = _load()


def _code_name(code: int) -> str:
    name = lib.krt_code_name(code)
    return name.decode() if name else "unknown"


def check(status: Optional[int]) -> None:
    """Raises the KrtError a krt_status* stands for (and releases it); nothing for NULL."""
    if not status:
        return
    code = lib.krt_status_code(status)
    message = (lib.krt_status_message(status) or b"").decode("utf-8", "replace")
    lib.krt_status_release(status)
    raise KrtError(code, message)


def fail(code: int, message: str) -> KrtError:
    """A KrtError for what this package refuses before calling krt (same codes, krt's wording)."""
    return KrtError(code, message)


def text(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""


def path_bytes(path: "os.PathLike[str] | str | bytes") -> bytes:
    return os.fsencode(path)


def owned_string(pointer: ctypes.c_void_p) -> str:
    """A char* that krt allocated for the caller: read, then freed with krt_free."""
    try:
        return text(ctypes.string_at(pointer.value)) if pointer.value else ""
    finally:
        lib.krt_free(pointer)
