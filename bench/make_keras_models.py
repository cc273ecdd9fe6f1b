"""Builds the benchmark models with real Keras and saves them as .keras files.

Keras Applications with random weights (weights=None: no download), input 224x224x3, 1000 classes:
    OUT_DIR/resnet50.keras     keras.applications.ResNet50
    OUT_DIR/mobilenetv2.keras  keras.applications.MobileNetV2

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

MODELS = {
    "resnet50": lambda: keras.applications.ResNet50(
        weights=None, input_shape=(224, 224, 3), classes=1000),
    "mobilenetv2": lambda: keras.applications.MobileNetV2(
        weights=None, input_shape=(224, 224, 3), classes=1000),
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
        model = MODELS[name]()
        path = os.path.join(args.out_dir, f"{name}.keras")
        model.save(path)
        size = os.path.getsize(path) / 2**20
        print(f"{path}: {model.count_params()} parameters, {size:.1f} MiB, "
              f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
