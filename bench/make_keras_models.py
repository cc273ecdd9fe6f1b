"""Builds the benchmark models with real Keras and saves them as .keras files.

Keras Applications with random weights (weights=None: no download), 1000 classes, input 224x224x3
(InceptionV3: 299x299x3, bench_common.input_hw):
    OUT_DIR/resnet50.keras     keras.applications.ResNet50
    OUT_DIR/mobilenetv2.keras  keras.applications.MobileNetV2
    OUT_DIR/inceptionv3.keras  keras.applications.InceptionV3   (concatenations of conv branches)
    OUT_DIR/densenet121.keras  keras.applications.DenseNet121   (a growing concatenation)
The first two are the issue's comparison; the last two are optional (BENCH_MODELS) and show
concatenation written in place.

Usage: KERAS_BACKEND=jax python3 bench/make_keras_models.py OUT_DIR [--models resnet50,mobilenetv2]
The backend only matters for building; the saved files are the same for every backend. On the GPU
machine run it with JAX_PLATFORMS=cpu so that it does not hold GPU memory.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402  (the backend must be chosen before the import)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import input_hw  # noqa: E402

MODELS = {
    "resnet50": keras.applications.ResNet50,
    "mobilenetv2": keras.applications.MobileNetV2,
    "inceptionv3": keras.applications.InceptionV3,
    "densenet121": keras.applications.DenseNet121,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated subset of: " + ", ".join(MODELS))
    args = parser.parse_args()
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        sys.exit(f"make_keras_models: unknown model(s) {unknown}; known: {list(MODELS)}")
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    for name in names:
        start = time.perf_counter()
        keras.utils.set_random_seed(0)
        model = MODELS[name](weights=None, input_shape=input_hw(name), classes=1000)
        path = os.path.join(args.out_dir, f"{name}.keras")
        model.save(path)
        size = os.path.getsize(path) / 2**20
        print(f"{path}: {model.count_params()} parameters, {size:.1f} MiB, "
              f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
