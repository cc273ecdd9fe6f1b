"""krt.build and Context.run on real-Keras fixtures, save/load, metadata and zero-copy outputs."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import krt
from conftest import Case, assert_matches, batch_of, load_case

CASES = ["concat_inception", "multi_input", "multi_output", "layerscale", "h5k2_multi_output",
         "embedding", "channels_first_cnn", "sm_keras3_two_io", "sm_tf_keras_save"]


@pytest.mark.parametrize("name", CASES)
def test_fixture_matches_keras(name: str) -> None:
    case = load_case(name)
    with krt.build(case.model, max_batch=batch_of(case)) as engine:
        got = engine.context().run(case.inputs)
    assert_matches(got, case)


def test_metadata(layerscale: Case) -> None:
    engine = krt.build(str(layerscale.model), max_batch=4)
    assert [i.name for i in engine.inputs] == ["image", "features"]
    assert engine.inputs[0].shape == (None, 3, 3, 8)
    assert engine.inputs[0].batch_axis == 0
    assert engine.inputs[1].dtype == np.float32
    assert [o.name for o in engine.outputs] == ["residual", "layer_scale_2d"]
    assert engine.outputs[1].shape == (None, 5)
    assert engine.max_batch == 4
    assert engine.device == "cpu" and engine.precision == "fp32"
    assert engine.node_count > 0 and engine.weight_bytes > 0
    assert "layer_scale_2d" in repr(engine)


def test_inputs_by_position_and_smaller_batch(layerscale: Case) -> None:
    engine = krt.build(layerscale.model, max_batch=8)
    ctx = engine.context()
    got = ctx.run([layerscale.inputs["image"][:1], layerscale.inputs["features"][:1]])
    assert_matches(got, layerscale, rows=slice(0, 1))
    assert_matches(ctx.run(layerscale.inputs), layerscale)


def test_single_array_and_conversions(multi_output: Case) -> None:
    x = multi_output.inputs["x"]
    ctx = krt.build(multi_output.model, max_batch=2).context()
    assert_matches(ctx.run(x), multi_output)  # one input: the array alone
    assert_matches(ctx.run({"x": x.astype(np.float64)}), multi_output)  # krt converts
    assert_matches(ctx.run({"x": x.tolist()}), multi_output)  # numpy.asarray
    wide = np.zeros((2, 16), np.float32)
    wide[:, ::2] = x
    assert not wide[:, ::2].flags.c_contiguous
    assert_matches(ctx.run({"x": wide[:, ::2]}), multi_output)  # copied first
    assert_matches(ctx.run({"x": x.astype(">f4")}), multi_output)  # byte-swapped: copied


def test_outputs_are_fresh_arrays_owned_by_the_caller(multi_output: Case) -> None:
    ctx = krt.build(multi_output.model, max_batch=2).context()
    first = ctx.run(multi_output.inputs)
    kept = first["class_head"].copy()
    ctx.run({"x": np.zeros_like(multi_output.inputs["x"])})
    np.testing.assert_array_equal(first["class_head"], kept)  # a later run leaves them alone


def test_out_arrays_written_in_place(multi_output: Case) -> None:
    ctx = krt.build(multi_output.model, max_batch=2).context()
    out = np.full((2, 3), np.nan, np.float32)
    got = ctx.run(multi_output.inputs, out={"class_head": out})
    assert got["class_head"] is out
    assert_matches(got, multi_output)


def test_save_load_round_trip(tmp_path, layerscale: Case) -> None:
    engine = krt.build(layerscale.model, max_batch=2)
    reference = engine.context().run(layerscale.inputs)
    path = tmp_path / "layerscale.krt"
    engine.save(path)
    loaded = krt.load(path)
    assert loaded.inputs == engine.inputs and loaded.outputs == engine.outputs
    for name, value in loaded.context().run(layerscale.inputs).items():
        np.testing.assert_array_equal(value, reference[name])
    from_bytes = krt.load(engine.serialize())
    assert_matches(from_bytes.context().run(layerscale.inputs), layerscale)
    assert path.read_bytes() == engine.serialize()


def test_two_contexts_on_two_threads(layerscale: Case) -> None:
    engine = krt.build(layerscale.model, max_batch=2)
    failures = []

    def work(seed: int) -> None:
        ctx = engine.context()
        rng = np.random.default_rng(seed)
        other = {k: rng.standard_normal(v.shape).astype(np.float32)
                 for k, v in layerscale.inputs.items()}
        want_other = engine.context().run(other)
        try:
            for i in range(50):
                feed = layerscale.inputs if i % 2 == 0 else other
                got = ctx.run(feed)
                if i % 2 == 0:
                    assert_matches(got, layerscale)
                else:
                    for k, v in got.items():
                        np.testing.assert_array_equal(v, want_other[k])
        except AssertionError as e:  # reported from the main thread
            failures.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures


def test_close_engine_closes_contexts(multi_output: Case) -> None:
    engine = krt.build(multi_output.model)
    ctx = engine.context()
    engine.close()
    engine.close()
    with pytest.raises(krt.KrtError, match="closed"):
        ctx.run(multi_output.inputs["x"][:1])
    with pytest.raises(krt.KrtError, match="closed"):
        engine.max_batch


def test_version() -> None:
    assert krt.version() == krt.__version__
    assert krt.version().count(".") == 2
    assert "build type:" in krt.build_info()


def test_collected_in_any_order(multi_output: Case) -> None:
    """An engine and its contexts in one garbage cycle: the collector finalises them in any
    order, and the engine must still be released after its contexts."""
    import gc

    for _ in range(100):
        engine = krt.build(multi_output.model)
        holder = {"contexts": [engine.context(), engine.context()], "engine": engine}
        holder["self"] = holder  # a cycle: only the collector frees it
        engine.__dict__["cycle"] = holder
        del engine, holder
        gc.collect()


def test_savedmodel_signature() -> None:
    """A SavedModel directory's other signature: tf.Module's tanh_scaled, t = tanh(x w) * scale."""
    case = load_case("sm_tf_module")
    with krt.build(case.model, max_batch=2) as engine:
        assert [o.name for o in engine.outputs] in (["y", "z"], ["z", "y"])
    with krt.build(case.model, max_batch=2, signature="tanh_scaled") as engine:
        assert [o.name for o in engine.outputs] == ["t"]
        assert [i.name for i in engine.inputs] == ["tanh_scaled_x"]
    with pytest.raises(krt.KrtError, match="no signature 'nope'"):
        krt.build(case.model, signature="nope")
