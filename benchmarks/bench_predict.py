"""Inference and training speed per preset, and peak memory on a 4096x4096 image.

    python benchmarks/bench_predict.py                      # all presets, 256/512/1024 px
    python benchmarks/bench_predict.py --presets pretrained-lite0 --sizes 512 --backends
    python benchmarks/bench_predict.py --memory              # peak RSS, 4096x4096, per tile size

"bare" is the network's forward pass alone on a ready tensor; "engine" is
Predictor.predict on a uint8 image (normalisation, padding/tiling, activation, crop):
the difference is what the engine adds. --backends compares eager, channels_last and
ONNX Runtime for the same network and reports the largest probability difference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from segapp.ml.checkpoint import LoadedModel
from segapp.ml.infer import Predictor, input_size_for_output
from segapp.ml.registry import PRESETS, count_parameters, create_model, preset_spec


def _timeit(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _loaded(name: str) -> LoadedModel:
    overrides = {"encoder_weights": ""} if name == "pretrained-resnet34" else {}
    spec = preset_spec(name, **overrides)
    return LoadedModel(create_model(spec).eval(), spec, name)


def bench_latency(presets: list[str], sizes: list[int], reps: int) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'preset':20} {'px':>5} {'bare ms':>9} {'engine ms':>10} {'overhead':>9}")
    for name in presets:
        loaded = _loaded(name)
        for size in sizes:
            # one tile covering the image (valid-convolution nets: input larger than output)
            n = input_size_for_output(loaded.model, size)
            pred = Predictor(loaded, "cpu", channels_last=False, tile=n, backend="torch")
            image = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
            x = torch.randn(1, 3, n, n)

            def bare(x=x, net=pred.model):
                with torch.inference_mode():
                    net(x)

            r = reps if size < 1024 else max(2, reps // 2)
            t_bare = _timeit(bare, r)
            t_engine = _timeit(lambda image=image, p=pred: p.predict(image), r)
            print(
                f"{name:20} {size:>5} {t_bare:>9.1f} {t_engine:>10.1f} "
                f"{(t_engine / t_bare - 1) * 100:>8.1f}%",
                flush=True,
            )


def bench_backends(presets: list[str], sizes: list[int], reps: int) -> None:
    from segapp.ml import onnx_backend

    print(
        f"{'preset':20} {'px':>5} {'eager':>8} {'ch_last':>8} {'onnx':>8}  max |dp| ch_last / onnx"
    )
    for name in presets:
        loaded = _loaded(name)
        for size in sizes:
            image = np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)
            eager = Predictor(loaded, "cpu", channels_last=False, backend="torch")
            ref = eager.predict(image)
            row = [_timeit(lambda p=eager, im=image: p.predict(im), reps)]
            cl = Predictor(loaded, "cpu", channels_last=True, backend="torch")
            row.append(_timeit(lambda p=cl, im=image: p.predict(im), reps))
            diffs = [float(np.abs(cl.predict(image) - ref).max())]
            loaded.model.to(memory_format=torch.contiguous_format)
            if onnx_backend.available():
                ox = Predictor(loaded, "cpu", backend="onnx")
                row.append(_timeit(lambda p=ox, im=image: p.predict(im), reps))
                diffs.append(float(np.abs(ox.predict(image) - ref).max()))
            print(
                f"{name:20} {size:>5} "
                + " ".join(f"{t:>8.1f}" for t in row)
                + "  "
                + " / ".join(f"{d:.1e}" for d in diffs),
                flush=True,
            )


def bench_training(presets: list[str], size: int, batch: int) -> None:
    print(f"training, {size}px, batch {batch}: images/s (forward+backward+AdamW step)")
    for name in presets:
        loaded = _loaded(name)
        model = loaded.model.train()
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        n = model.valid_input_size(size)
        x = torch.randn(batch, 3, n, n)
        o = model.output_size(n)
        y = torch.randint(0, 2, (batch, 1, o, o)).float()

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()

        ms = _timeit(step, 3)
        print(
            f"{name:20} {batch / (ms / 1000):>7.2f} img/s  ({count_parameters(model) / 1e6:.1f}M params)",
            flush=True,
        )


def bench_memory() -> None:
    code = (
        "import resource, sys, numpy as np; from segapp.ml.infer import Predictor;"
        "from segapp.ml.checkpoint import load_model;"
        "p = Predictor(load_model('pretrained-lite0'), 'cpu', tile=int(sys.argv[1]));"
        "img = np.random.default_rng(0).integers(0, 255, (4096, 4096, 3), dtype=np.uint8);"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "p.predict(img);"
        "print(base / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    print("pretrained-lite0 on a 4096x4096 RGB image: peak resident memory (MiB)")
    for tile in (512, 1024, 2048):
        out = subprocess.run(
            [sys.executable, "-c", code, str(tile)], capture_output=True, text=True, check=True
        ).stdout.split()
        print(
            f"tile {tile:>5}: before predict {float(out[0]):7.0f}, peak {float(out[1]):7.0f}",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--sizes", default="256,512,1024")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--backends", action="store_true")
    p.add_argument("--training", action="store_true")
    p.add_argument("--memory", action="store_true")
    args = p.parse_args()
    presets = args.presets.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.backends:
        bench_backends(presets, sizes, args.reps)
    elif args.training:
        bench_training(presets, 256, 4)
    elif args.memory:
        bench_memory()
    else:
        bench_latency(presets, sizes, args.reps)


if __name__ == "__main__":
    main()
