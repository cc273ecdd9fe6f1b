"""The DLPack exchange protocol (`__dlpack__` / `__dlpack_device__`), read with ctypes.

A producer (PyTorch, CuPy, JAX, numpy >= 1.22) hands out a PyCapsule named "dltensor" that holds
a DLManagedTensor: data pointer, device, dtype, shape, strides. This module takes the pointer out
without copying anything. Ownership: the capsule keeps its name, so the producer's capsule
destructor calls the tensor's deleter when the capsule is garbage collected; krt's Context holds
the capsule for as long as krt may read or write the memory (the run, or until the stream has
completed it). The versioned capsules of DLPack 1.0 are not asked for (no `max_version`), so
every producer answers with the unversioned struct below.
"""
from __future__ import annotations

import ctypes
from typing import Any, NamedTuple, Optional, Tuple

from . import _capi

# DLDeviceType values this package knows.
CPU = 1
CUDA = 2
CUDA_HOST = 3  # pinned host memory: a host buffer to krt
CUDA_MANAGED = 13
DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                9: "vpi", 10: "rocm", 11: "rocm_host", 13: "cuda_managed", 14: "oneapi"}

# (DLDataTypeCode, bits) -> krt_dtype. Codes: 0 int, 1 uint, 2 float, 4 bfloat, 5 complex, 6 bool.
_DTYPES = {(2, 32): _capi.FLOAT32, (2, 16): _capi.FLOAT16, (2, 64): _capi.FLOAT64,
           (0, 32): _capi.INT32, (0, 64): _capi.INT64, (1, 8): _capi.UINT8}
_CODE_NAMES = {0: "int", 1: "uint", 2: "float", 4: "bfloat", 5: "complex", 6: "bool"}


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]


class Tensor(NamedTuple):
    """A DLPack tensor as krt sees it. `capsule` owns the memory: keep it while krt uses `data`."""
    data: int  # address of the first element (byte_offset applied)
    device_type: int
    device_id: int
    dtype: int  # krt_dtype, DTYPE_INVALID when krt has none for it
    dtype_name: str
    shape: Tuple[int, ...]
    contiguous: bool  # C order (compact row-major; axes of extent 1 may have any stride)
    nbytes: int
    capsule: Any


def is_dlpack(obj: Any) -> bool:
    return hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__")


def device_of(obj: Any) -> Tuple[int, int]:
    device_type, device_id = obj.__dlpack_device__()
    return int(device_type), int(device_id)


def is_device(device_type: int) -> bool:
    """Memory krt binds as a device buffer (CUDA, managed); the rest it reads as host memory."""
    return device_type in (CUDA, CUDA_MANAGED)


def export(obj: Any, stream: Optional[int]) -> Tensor:
    """Calls obj.__dlpack__ and reads the tensor. `stream` is the consumer's stream as DLPack
    numbers it (1: legacy default, 2: per-thread default, larger: a cudaStream_t); the producer
    makes it wait for the work that writes the tensor. Host tensors get no stream."""
    device_type, _ = device_of(obj)
    capsule = obj.__dlpack__(stream=stream) if is_device(device_type) else obj.__dlpack__()
    if not _capsule_is_valid(capsule, b"dltensor"):
        raise _capi.fail(_capi.ERR_INVALID_ARGUMENT,
                         f"DLPack: {type(obj).__name__}.__dlpack__ returned no 'dltensor' capsule "
                         "(already consumed, or a versioned capsule nobody asked for)")
    managed = _DLManagedTensor.from_address(_capsule_get_pointer(capsule, b"dltensor"))
    t = managed.dl_tensor
    shape = tuple(int(t.shape[i]) for i in range(t.ndim))
    contiguous = True
    if t.strides:
        expected = 1
        for axis in reversed(range(t.ndim)):
            if shape[axis] != 1 and int(t.strides[axis]) != expected:
                contiguous = False
            expected *= shape[axis]
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    dtype = _DTYPES.get((code, bits), _capi.DTYPE_INVALID) if lanes == 1 else _capi.DTYPE_INVALID
    dtype_name = f"{_CODE_NAMES.get(code, f'code{code}')}{bits}" + (f"x{lanes}" if lanes > 1 else "")
    count = 1
    for extent in shape:
        count *= extent
    return Tensor(data=(t.data or 0) + int(t.byte_offset), device_type=int(t.device.device_type),
                  device_id=int(t.device.device_id), dtype=dtype, dtype_name=dtype_name,
                  shape=shape, contiguous=contiguous, nbytes=count * ((bits * lanes + 7) // 8),
                  capsule=capsule)
