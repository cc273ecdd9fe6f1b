#!/usr/bin/env python3
"""The supported-layers table (docs/LAYERS.md), generated from krt's own sources.

    python3 tools/docs/make_layer_table.py [--out docs/LAYERS.md] [--check]

One source of truth: what krt maps is read from the importer itself, never typed twice.
  * Keras layer classes: the layer tables of src/import/keras_layers.c (the same parse the
    options walk uses: make_option_walk.table_classes), its table of several-input layers and
    the classes keras.applications defines for itself;
  * Keras 3 operations (keras.ops calls saved as nodes of a functional model): the class names
    src/import/keras_ops.c compares with (option_walk_ops.mapped_op_names);
  * option limits: tests/option_walk_refusals.txt, the walk's exact list of the options krt
    refuses (the walk fails when krt and the list disagree, so the list is krt's behaviour).
Against that, every public class of keras.layers and every public function of keras.ops of the
installed Keras is listed as supported (with its refused options) or not (with the reason).
--check compares the result with the file instead of writing it, and exits 1 when they differ
(the table is stale: rerun without --check).
"""
import argparse
import inspect
import os
import re
import sys
from collections import OrderedDict, defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
try:  # the walk's modules import Keras and TensorFlow
    import make_option_walk  # noqa: E402
    import option_walk_ops  # noqa: E402
except ImportError as e:
    print("make_layer_table: %s; skipping" % e)
    sys.exit(77)

LAYERS_SOURCE = os.path.join(ROOT, "src", "import", "keras_layers.c")
REFUSALS = os.path.join(ROOT, "tests", "option_walk_refusals.txt")
DEFAULT_OUT = os.path.join(ROOT, "docs", "LAYERS.md")

# Why a class krt does not map is left out, by pattern over the class name (first match wins).
# Everything else is "not implemented yet": an honest answer, and the list of work to do.
UNMAPPED_REASONS = [
    (r"^(Input|InputLayer|InputSpec|Layer|Wrapper|RNN|StackedRNNCells)$",
     "a base or helper class, not a layer of a saved model"),
    (r"Cell$", "an RNN cell: krt reads the layer that wraps it (SimpleRNN, LSTM, GRU)"),
    (r"^(Random|Aug|Mix|Cut|Solarization|Equalization|AutoContrast|RandAugment|Pipeline)",
     "random augmentation, the identity at inference: not mapped yet"),
    (r"^(TextVectorization|StringLookup|IntegerLookup|Hashing|HashedCrossing|"
     r"STFTSpectrogram|MelSpectrogram)$",
     "text, string or audio preprocessing: outside a tensor engine (run it before krt)"),
    (r"^(TFSMLayer|JaxLayer|FlaxLayer|TorchModuleWrapper)$",
     "runs another framework's code: refused (user code is never run)"),
    (r"^Lambda$", "user code: refused with an explanation, never run"),
]


def keras_layer_classes(keras):
    """The public layer classes of keras.layers, with aliases grouped under one name."""
    groups = OrderedDict()
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        if name.startswith("_") or not inspect.isclass(obj):
            continue
        if not issubclass(obj, keras.layers.Layer) and obj is not keras.layers.InputSpec:
            continue
        groups.setdefault(obj, []).append(name)
    return groups


def krt_layer_classes():
    """Every Keras class name krt's importer maps: its tables, in source order."""
    with open(LAYERS_SOURCE) as f:
        text = f.read()
    names = list(make_option_walk.table_classes())
    table = re.search(r"multi_layer_table\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    apps = re.search(r"application_layers\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
    for block in (table, apps):
        if block:
            names += re.findall(r'\{\s*"([A-Za-z0-9_]+)"\s*,', block.group(1))
    return list(dict.fromkeys(names))


def refusals_by_class():
    """class -> OrderedDict(option -> set of gists), from the walk's refusal list. Dtype
    policies are one limit of the whole engine, said once above the tables."""
    found = defaultdict(OrderedDict)
    with open(REFUSALS) as f:
        for line in f:
            if not line.strip() or line.startswith("#") or "\t" not in line:
                continue
            case, gist = line.rstrip("\n").split("\t", 1)
            parts = case.split("__")
            if len(parts) < 3:
                continue
            cls, option = parts[0], "__".join(parts[1:-1])
            key = option.split("=", 1)[0]
            if key == "dtype":
                continue
            found[cls].setdefault(key, set()).add(option)
    return found


def describe_refused(options):
    parts = []
    for key, values in options.items():
        shown = sorted(v.split("=", 1)[1] if "=" in v else v for v in values)
        if key == "default":
            parts.append("refused with its defaults")
        else:
            parts.append("`%s` %s" % (key, ", ".join("`%s`" % s for s in shown[:4]) +
                                     (" ..." if len(shown) > 4 else "")))
    return "; ".join(parts)


def unmapped_reason(name):
    for pattern, reason in UNMAPPED_REASONS:
        if re.search(pattern, name):
            return reason
    return "not implemented yet"


def op_functions(keras):
    """Public keras.ops functions -> the Operation class a functional model saves for them
    (None: the function saves no node of its own class)."""
    out = OrderedDict()
    for name in sorted(dir(keras.ops)):
        fn = getattr(keras.ops, name)
        if name.startswith("_") or not callable(fn) or inspect.isclass(fn):
            continue
        camel = "".join(p[:1].upper() + p[1:] for p in name.split("_"))
        cls = option_walk_ops.find_op_class(keras, camel)
        out[name] = cls.__name__ if cls else None
    return out


def build(keras):
    mapped = krt_layer_classes()
    mapped_set = set(mapped)
    refused = refusals_by_class()
    ops = set(option_walk_ops.mapped_op_names())
    lines = [
        "# Supported Keras layers and operations",
        "",
        "Generated by `python3 tools/docs/make_layer_table.py` from krt's importer tables",
        "(`src/import/keras_layers.c`, `src/import/keras_ops.c`) and the options walk's refusal",
        "list (`tests/option_walk_refusals.txt`), against Keras %s. Do not edit by hand: the" %
        keras.__version__,
        "`layer_table` test fails when this file is stale.",
        "",
        "Everywhere: weights and computation are float32 (TF32 or FP16 by build option on the GPU);",
        "the `float16`, `bfloat16` and `mixed_float16` dtype policies are refused. Masks are refused",
        "unless a row says otherwise. Legacy names (Keras 1 and 2 spellings, such as",
        "`Convolution2D`) are accepted where krt's table lists them.",
        "",
        "## Layers (`keras.layers`)",
        "",
        "| class | krt | refused options (the options walk) |",
        "| --- | --- | --- |",
    ]
    n_yes = n_all = 0
    seen = set()
    for cls, names in keras_layer_classes(keras).items():
        primary = names[0] if cls.__name__ not in names else cls.__name__
        aliases = [n for n in names if n != primary]
        label = "`%s`" % primary + (" (%s)" % ", ".join("`%s`" % a for a in aliases)
                                    if aliases else "")
        hit = [n for n in names + [cls.__name__] if n in mapped_set]
        seen.update(hit)
        n_all += 1
        if hit:
            n_yes += 1
            limits = OrderedDict()
            for n in dict.fromkeys(hit + names):
                for key, values in refused.get(n, {}).items():
                    limits.setdefault(key, set()).update(values)
            lines.append("| %s | yes | %s |" % (label, describe_refused(limits) or "none"))
        else:
            lines.append("| %s | no | %s |" % (label, unmapped_reason(primary)))
    extra = [n for n in mapped if n not in seen]
    lines += ["", "%d of %d `keras.layers` classes are mapped." % (n_yes, n_all), ""]
    if extra:
        lines += ["Also mapped (legacy Keras 1/2 names, tf.keras-only and `keras.applications` "
                  "classes): " + ", ".join("`%s`" % n for n in extra) + ".", ""]
    lines += [
        "## Operations (`keras.ops`, saved as nodes of a functional model)",
        "",
        "A function whose call Keras 3 records as an operation node of its own class. Functions",
        "that record no node of their own (they run as other operations, or only eagerly) are",
        "left out of the count.",
        "",
        "| function | node class | krt | refused options |",
        "| --- | --- | --- | --- |",
    ]
    o_yes = o_all = 0
    for name, cls in op_functions(keras).items():
        if cls is None:
            continue
        o_all += 1
        if cls in ops:
            o_yes += 1
            limit = describe_refused(refused.get("ops." + cls, {}))
            lines.append("| `%s` | `%s` | yes | %s |" % (name, cls, limit or "none"))
        else:
            lines.append("| `%s` | `%s` | no | not implemented yet |" % (name, cls))
    lines += ["", "%d of %d `keras.ops` operation classes are mapped." % (o_yes, o_all), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    import keras
    text = build(keras)
    if args.check:
        try:
            with open(args.out) as f:
                old = f.read()
        except OSError:
            old = ""
        if old != text:
            print("make_layer_table: %s is stale; regenerate it with "
                  "python3 tools/docs/make_layer_table.py" % os.path.relpath(args.out, ROOT))
            return 1
        print("make_layer_table: %s is current" % os.path.relpath(args.out, ROOT))
        return 0
    with open(args.out, "w") as f:
        f.write(text)
    print("make_layer_table: wrote %s" % os.path.relpath(args.out, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
