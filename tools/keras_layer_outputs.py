#!/usr/bin/env python3
"""Every layer's output of a Keras model, computed by real Keras, for `krt compare --reference`.

    python3 tools/keras_layer_outputs.py MODEL DIR [--input NAME=FILE.npy]... [--batch N] [--seed S]

Loads MODEL (.keras with Keras 3; .h5 with Keras 3, else tf_keras for Keras 2 files), builds a
model whose outputs are the outputs of every top-level layer, runs it in inference mode and writes

    DIR/<layer>.npy          float32, one per layer (batch first, as Keras shapes it)
    DIR/index.json           {"<layer name>": "<file name>", ...}
    DIR/inputs/<input>.npy   the data it ran on (krt compare reads them when not given --input)

File names are the names with every character outside [A-Za-z0-9_.-] replaced by '_' (as
`krt run --out` names files). Inputs not given are seeded random uniform[-1,1] of batch N (0 or 1
for integer inputs). Skipped, with a note on stderr: layers with several outputs, and layers whose
output Keras cannot name (it raises); InputLayers are skipped silently. A layer called more than
once (shared) gives its first call's output, as krt names it. A nested model counts as one layer
(its output is its last layer's).
"""
import argparse
import json
import os
import re
import sys

import numpy as np


def sanitised(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def load_model(path):
    """(keras module, model): Keras 3 first; Keras 2 .h5 files may need tf_keras."""
    import keras

    try:
        return keras, keras.models.load_model(path, compile=False)
    except Exception as first:  # noqa: BLE001 - the second loader decides
        if not path.endswith(".h5"):
            raise
        try:
            import tf_keras
        except ImportError:
            raise first
        return tf_keras, tf_keras.models.load_model(path, compile=False)


def input_name(tensor, index):
    history = getattr(tensor, "_keras_history", None)
    if history is not None:
        layer = history[0] if isinstance(history, tuple) else getattr(history, "operation", None)
        if layer is not None and getattr(layer, "name", None):
            return layer.name
    return getattr(tensor, "name", None) or "input_%d" % index


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("dir")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # channels_first convolutions on CPUs without AVX-512
    k, model = load_model(args.model)
    inputs = list(model.inputs)
    names = [input_name(t, i) for i, t in enumerate(inputs)]

    given = {}
    for item in args.input:
        name, eq, file = item.partition("=")
        if not eq:
            if len(inputs) != 1:
                sys.exit("keras_layer_outputs: --input %s: the model has %d inputs; name it"
                         % (item, len(inputs)))
            name, file = names[0], item
        if name not in names:
            sys.exit("keras_layer_outputs: no input '%s'; the inputs are %s" % (name, ", ".join(names)))
        given[name] = np.load(file)

    rng = np.random.default_rng(args.seed)
    data = []
    for t, name in zip(inputs, names):
        if name in given:
            data.append(given[name])
            continue
        shape = [args.batch] + [int(d) for d in t.shape[1:]]
        dtype = np.dtype(getattr(t, "dtype", "float32") or "float32")
        if np.issubdtype(dtype, np.integer):
            data.append(rng.integers(0, 2, size=shape).astype(dtype))
        else:
            data.append(rng.uniform(-1.0, 1.0, size=shape).astype(np.float32))

    layers, outputs, notes = [], [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError) as e:  # shared layers raise here
            notes.append("%s: skipped (%s)" % (layer.name, str(e).splitlines()[0][:80]))
            continue
        if isinstance(out, (list, tuple, dict)):
            notes.append("%s: skipped (%d outputs)" % (layer.name, len(out)))
            continue
        layers.append(layer.name)
        outputs.append(out)
    for note in notes:
        print("keras_layer_outputs: " + note, file=sys.stderr)

    probe = k.Model(inputs=inputs, outputs=outputs)
    values = probe(data, training=False)
    if not isinstance(values, (list, tuple)):
        values = [values]

    os.makedirs(os.path.join(args.dir, "inputs"), exist_ok=True)
    index = {}
    for name, value in zip(layers, values):
        file = sanitised(name) + ".npy"
        np.save(os.path.join(args.dir, file), np.asarray(value, dtype=np.float32))
        index[name] = file
    for name, value in zip(names, data):
        np.save(os.path.join(args.dir, "inputs", sanitised(name) + ".npy"), value)
    with open(os.path.join(args.dir, "index.json"), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1, ensure_ascii=False)
    print("wrote %d layer outputs and %d inputs to %s" % (len(index), len(names), args.dir))


if __name__ == "__main__":
    main()
