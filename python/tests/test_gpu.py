"""The krt package on a CUDA GPU with PyTorch device tensors (DLPack, zero-copy). Self-contained:

    python -m pytest python/tests/test_gpu.py        # with the package installed (pip install .,
                                                     # CUDA toolkit and cuDNN present), or with
                                                     # PYTHONPATH=python KRT_LIBRARY=.../libkrt.so

Skips when PyTorch, a CUDA device or krt's CUDA module is absent. The references are the
committed real-Keras fixtures (tests/fixtures), compared with tests/case_check.c's tolerances:
the case's rtol/atol at fp32; at fp16 a normalised error ||got - want|| / ||want|| <= 1e-2 and
elementwise rtol = atol = 5e-2."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest

import krt

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device for PyTorch", allow_module_level=True)
try:
    krt.device_info("cuda")
except krt.KrtError as e:
    pytest.skip(f"krt's CUDA backend cannot run here: {e}", allow_module_level=True)

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


def load_case(name: str) -> Tuple[Path, Dict[str, np.ndarray], Dict[str, np.ndarray], float, float]:
    folder = FIXTURES / name
    spec = json.loads((folder / "case.json").read_text())
    model = next(p for p in (folder / "model.keras", folder / "model.h5") if p.is_file())
    inputs = {t["name"]: np.load(folder / t["file"]) for t in spec["inputs"]}
    expected = {t["name"]: np.load(folder / t["file"]) for t in spec["outputs"]}
    return model, inputs, expected, spec.get("rtol", 1e-4), spec.get("atol", 1e-5)


def check(got, want: np.ndarray, rtol: float, atol: float, fp16: bool = False) -> None:
    if isinstance(got, torch.Tensor):
        got = got.float().cpu().numpy()
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape
    if fp16:
        norm = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
        assert norm <= 1e-2, f"normalised error {norm:.3g}"
        rtol = atol = 5e-2
    bad = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
    assert not bad.any(), f"{int(bad.sum())} values differ, max {np.nanmax(np.abs(got - want)):.3g}"


@pytest.fixture(scope="module")
def layerscale():
    model, inputs, expected, rtol, atol = load_case("layerscale")
    engine = krt.build(model, device="cuda", max_batch=2)
    return engine, inputs, expected, rtol, atol


def on_gpu(inputs: Dict[str, np.ndarray], dtype=None) -> Dict[str, "torch.Tensor"]:
    return {k: torch.from_numpy(v).to("cuda", dtype=dtype or torch.float32)
            for k, v in inputs.items()}


def test_device_inputs_host_outputs(layerscale) -> None:
    engine, inputs, expected, rtol, atol = layerscale
    assert engine.device == "cuda"
    got = engine.context().run(on_gpu(inputs))
    for name, want in expected.items():
        assert isinstance(got[name], np.ndarray)
        check(got[name], want, rtol, atol)


def test_device_inputs_and_outputs_on_the_callers_stream(layerscale) -> None:
    engine, inputs, expected, rtol, atol = layerscale
    ctx = engine.context()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        # Written on `stream`: krt must wait for these kernels (it joins the stream it is given).
        x = {k: (t * 2.0) * 0.5 for k, t in on_gpu(inputs).items()}
        out = {o.name: torch.empty((2,) + tuple(o.shape[1:]), device="cuda")
               for o in engine.outputs}
        pointers = {k: t.data_ptr() for k, t in out.items()}
        got = ctx.run(x, out=out, stream=stream.cuda_stream)  # returns without waiting
        results = {k: t.clone() for k, t in got.items()}  # ordered after krt on `stream`
    stream.synchronize()
    for name, want in expected.items():
        assert got[name] is out[name] and got[name].data_ptr() == pointers[name]  # in place
        check(results[name], want, rtol, atol)


def test_default_stream_without_stream_argument(layerscale) -> None:
    engine, inputs, expected, rtol, atol = layerscale
    x = on_gpu(inputs)
    out = {o.name: torch.full((2,) + tuple(o.shape[1:]), float("nan"), device="cuda")
           for o in engine.outputs}
    engine.context().run(x, out=out)  # waits: outputs are ready when it returns
    for name, want in expected.items():
        check(out[name], want, rtol, atol)


def test_many_runs_replay(layerscale) -> None:
    engine, inputs, expected, rtol, atol = layerscale
    ctx = engine.context()
    x = on_gpu(inputs)
    out = {o.name: torch.empty((2,) + tuple(o.shape[1:]), device="cuda") for o in engine.outputs}
    stream = torch.cuda.current_stream().cuda_stream
    for _ in range(20):
        ctx.run(x, out=out, stream=stream)
    ctx.synchronize()
    for name, want in expected.items():
        check(out[name], want, rtol, atol)


def test_fp16_engine_with_half_tensors() -> None:
    model, inputs, expected, _, _ = load_case("layerscale")
    engine = krt.build(model, device="cuda", precision="fp16", max_batch=2)
    assert engine.precision == "fp16"
    x = on_gpu(inputs, torch.float16)
    out = {o.name: torch.empty((2,) + tuple(o.shape[1:]), device="cuda", dtype=torch.float16)
           for o in engine.outputs}
    engine.context().run(x, out=out)
    for name, want in expected.items():
        check(out[name], want, 0, 0, fp16=True)
    host = engine.context().run(on_gpu(inputs))  # float32 device inputs, converted by krt
    for name, want in expected.items():
        check(host[name], want, 0, 0, fp16=True)


def test_device_errors(layerscale) -> None:
    engine, inputs, _, _, _ = layerscale
    ctx = engine.context()
    x = on_gpu(inputs)
    with pytest.raises(krt.KrtError) as info:
        ctx.run({**x, "features": x["features"].to(torch.int32)})
    assert info.value.code == 1 and "a device buffer of int32" in info.value.message
    wide = torch.zeros((2, 12), device="cuda")
    with pytest.raises(krt.KrtError, match="not C-contiguous"):
        ctx.run({**x, "features": wide[:, ::2]})
    with pytest.raises(krt.KrtError) as info:
        ctx.run({**x, "features": torch.zeros((2, 7), device="cuda")})
    assert info.value.code == 7 and "axis 1 is 7" in info.value.message
    with pytest.raises(krt.KrtError, match=r"shape \[2, 5\]"):
        ctx.run(x, out={"layer_scale_2d": torch.empty((2, 6), device="cuda")})


def test_mixed_host_and_device_inputs(layerscale) -> None:
    engine, inputs, expected, rtol, atol = layerscale
    x = on_gpu(inputs)
    got = engine.context().run({"image": x["image"], "features": inputs["features"]})
    for name, want in expected.items():
        check(got[name], want, rtol, atol)
