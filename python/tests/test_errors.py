"""Failures raise krt.KrtError carrying krt's status code and message."""
from __future__ import annotations

import numpy as np
import pytest

import krt
from conftest import Case, assert_matches, load_case


@pytest.fixture
def ctx(multi_output: Case) -> krt.Context:
    return krt.build(multi_output.model, max_batch=2).context()


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "absent.keras"
    with pytest.raises(krt.KrtError) as info:
        krt.build(path)
    assert info.value.code_name == "I/O error" or info.value.code == 3, repr(info.value)
    assert str(path) in info.value.message
    with pytest.raises(krt.KrtError) as info:
        krt.load(tmp_path / "absent.krt")
    assert "absent.krt" in str(info.value)


def test_not_a_model(tmp_path) -> None:
    path = tmp_path / "junk.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(krt.KrtError) as info:
        krt.build(path)
    assert info.value.code == 4  # KRT_ERR_BAD_FILE
    with pytest.raises(krt.KrtError) as info:
        krt.load(b"KRT? not an engine")
    assert info.value.code in (4, 5)


def test_wrong_input_name(ctx: krt.Context, multi_output: Case) -> None:
    with pytest.raises(krt.KrtError) as info:
        ctx.run({"image": multi_output.inputs["x"]})
    assert info.value.code == 2  # KRT_ERR_NOT_FOUND, krt's message lists the inputs
    assert "image" in info.value.message and "'x'" in info.value.message


def test_wrong_shape(ctx: krt.Context) -> None:
    with pytest.raises(krt.KrtError) as info:
        ctx.run({"x": np.zeros((2, 7), np.float32)})
    assert info.value.code == 7  # KRT_ERR_SHAPE
    assert "krt_context_set_input: input 'x': axis 1 is 7, the engine expects 8" in str(info.value)
    with pytest.raises(krt.KrtError, match="rank 3 given, the engine expects rank 2"):
        ctx.run({"x": np.zeros((2, 8, 1), np.float32)})
    with pytest.raises(krt.KrtError, match=r"batch 3 is outside 1\.\.2"):
        ctx.run({"x": np.zeros((3, 8), np.float32)})


def test_wrong_dtype(ctx: krt.Context) -> None:
    with pytest.raises(krt.KrtError) as info:  # integer data for a float input: krt refuses
        ctx.run({"x": np.zeros((2, 8), np.int32)})
    assert info.value.code == 1
    assert "input 'x' is float32; int32 data given" in info.value.message
    with pytest.raises(krt.KrtError, match="int32 data given"):  # int16: copied to int32 first
        ctx.run({"x": np.zeros((2, 8), np.int16)})
    with pytest.raises(krt.KrtError) as info:
        ctx.run({"x": np.zeros((2, 8), np.complex64)})
    assert info.value.code == 1 and "complex64" in info.value.message
    with pytest.raises(krt.KrtError, match="an array of <U1"):
        ctx.run({"x": np.full((2, 8), "a")})


def test_missing_input(layerscale: Case) -> None:
    ctx = krt.build(layerscale.model, max_batch=2).context()
    ctx.run(layerscale.inputs)
    with pytest.raises(krt.KrtError, match="'features' not given"):
        ctx.run({"image": layerscale.inputs["image"]})
    with pytest.raises(krt.KrtError, match="one array given, the engine has 2 inputs"):
        ctx.run(layerscale.inputs["image"])


def test_wrong_out(ctx: krt.Context, multi_output: Case) -> None:
    with pytest.raises(krt.KrtError, match="shape \\[2, 3\\]"):
        ctx.run(multi_output.inputs, out={"class_head": np.empty((2, 4), np.float32)})
    with pytest.raises(krt.KrtError, match="read-only"):
        ro = np.empty((2, 3), np.float32)
        ro.flags.writeable = False
        ctx.run(multi_output.inputs, out={"class_head": ro})
    with pytest.raises(krt.KrtError) as info:
        ctx.run(multi_output.inputs, out={"nope": np.empty((2, 3), np.float32)})
    assert info.value.code == 2 and "nope" in info.value.message


def test_build_options(multi_output: Case) -> None:
    with pytest.raises(krt.KrtError, match="device 'tpu'"):
        krt.build(multi_output.model, device="tpu")
    with pytest.raises(krt.KrtError) as info:  # the CPU backend is float32 only
        krt.build(multi_output.model, precision="fp16")
    assert info.value.code == 6  # KRT_ERR_UNSUPPORTED
    with pytest.raises(krt.KrtError) as info:
        krt.build(multi_output.model, outputs=["no_such_layer"])
    assert "no_such_layer" in info.value.message


def test_cut_at_a_layer(multi_output: Case) -> None:
    engine = krt.build(multi_output.model, outputs=["score_head"])
    assert [o.name for o in engine.outputs] == ["score_head"]


def test_error_after_failure_leaves_context_usable(ctx: krt.Context, multi_output: Case) -> None:
    with pytest.raises(krt.KrtError):
        ctx.run({"x": np.zeros((2, 7), np.float32)})
    assert set(ctx.run(multi_output.inputs)) == {"class_head", "score_head"}


def test_integer_input_takes_integer_data() -> None:
    case = load_case("embedding")
    ctx = krt.build(case.model, max_batch=4).context()
    tokens = case.inputs["tokens"]
    for dtype in (np.int32, np.int64, np.uint8, np.int16):  # int16: copied to int32
        assert_matches(ctx.run({"tokens": tokens.astype(dtype)}), case)
    with pytest.raises(krt.KrtError, match="input 'tokens' is int32; float32 data given"):
        ctx.run({"tokens": tokens.astype(np.float32)})
