"""DLPack without a GPU: host tensors handed over through __dlpack__/__dlpack_device__ capsules
(numpy's own exporter, behind a wrapper so that the package does not see a numpy array)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import krt
from conftest import Case, assert_matches


class Exported:
    """Only the DLPack protocol of an array, as a PyTorch or JAX CPU tensor offers it."""

    def __init__(self, array: np.ndarray, device: Any = None) -> None:
        self.array = array
        self.device = device
        self.exports = 0

    def __dlpack__(self, stream: Any = None) -> Any:
        assert stream is None, "host tensors are exported without a stream"
        self.exports += 1
        return self.array.__dlpack__()

    def __dlpack_device__(self) -> Any:
        return self.device or self.array.__dlpack_device__()


@pytest.fixture
def ctx(multi_output: Case) -> krt.Context:
    return krt.build(multi_output.model, max_batch=2).context()


def test_host_dlpack_input(ctx: krt.Context, multi_output: Case) -> None:
    x = Exported(multi_output.inputs["x"])
    assert_matches(ctx.run({"x": x}), multi_output)
    assert x.exports == 1


def test_host_dlpack_input_with_offset_and_other_dtype(ctx: krt.Context,
                                                       multi_output: Case) -> None:
    padded = np.vstack([np.zeros((1, 8)), multi_output.inputs["x"]])  # float64
    assert_matches(ctx.run({"x": Exported(padded[1:])}), multi_output)  # byte_offset or data+


def test_host_dlpack_strided_input_is_copied(ctx: krt.Context, multi_output: Case) -> None:
    wide = np.zeros((2, 16), np.float32)
    wide[:, 1::2] = multi_output.inputs["x"]
    assert_matches(ctx.run({"x": Exported(wide[:, 1::2])}), multi_output)


def test_host_dlpack_out_is_written_in_place(ctx: krt.Context, multi_output: Case) -> None:
    target = np.full((2, 1), np.nan, np.float32)
    got = ctx.run(multi_output.inputs, out={"score_head": Exported(target)})
    assert isinstance(got["score_head"], Exported)
    assert_matches({"score_head": target, "class_head": got["class_head"]}, multi_output)


def test_host_dlpack_wrong_dtype_and_shape(ctx: krt.Context, multi_output: Case) -> None:
    with pytest.raises(krt.KrtError, match="DLPack array of bool8"):
        ctx.run({"x": Exported(np.zeros((2, 8), bool))})
    with pytest.raises(krt.KrtError) as info:
        ctx.run({"x": Exported(np.zeros((2, 9), np.float32))})
    assert info.value.code == 7 and "axis 1 is 9" in info.value.message
    with pytest.raises(krt.KrtError, match="host outputs are float32"):
        ctx.run(multi_output.inputs, out={"score_head": Exported(np.zeros((2, 1)))})
    with pytest.raises(krt.KrtError, match=r"shape \[2, 2\]"):
        ctx.run(multi_output.inputs, out={"score_head": Exported(np.zeros((2, 2), np.float32))})


def test_cuda_tensor_on_a_cpu_engine(ctx: krt.Context, multi_output: Case) -> None:
    """A tensor that says it lives on CUDA goes to krt_context_set_input_device, which a CPU
    engine refuses with krt's message (nothing is read from the pointer)."""

    class FakeCuda(Exported):
        def __dlpack__(self, stream: Any = None) -> Any:
            assert stream == 1, "the consumer's stream: the legacy default without stream="
            return self.array.__dlpack__()

    x = FakeCuda(multi_output.inputs["x"], device=(2, 0))
    with pytest.raises(krt.KrtError) as info:
        ctx.run({"x": x})
    assert info.value.code == 6  # KRT_ERR_UNSUPPORTED
    assert "krt_context_set_input_device" in info.value.message
    with pytest.raises(krt.KrtError, match="DLPack device 'rocm'"):
        ctx.run({"x": Exported(multi_output.inputs["x"], device=(10, 0))})
