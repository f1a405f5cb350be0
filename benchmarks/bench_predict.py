"""Proposal latency and memory of a trained default checkpoint, and per-preset speed.

    python benchmarks/bench_predict.py [--one-pass]    # latency, both modes, 512/1024/4096 px
    python benchmarks/bench_predict.py --memory        # peak memory on a 4096x4096 image
    python benchmarks/bench_predict.py --presets unet-paper,pretrained-lite0 --sizes 512
    python benchmarks/bench_predict.py --training      # training images/s per preset
    python benchmarks/bench_predict.py --photos CHECKPOINT [--data DIR] [--sizes 640,4000] [--one-pass]

What is measured is what a checkpoint trained with the defaults does: the default preset
(``registry.DEFAULT_PRESET``) trained briefly with ``TrainConfig``'s defaults (``--size``,
``--resize-mode auto`` and the rest; only the steps are few) on generated photos (the
``auto`` mode picks ``resize``: every image is squashed to the training size) and on
generated 2048 px scans (``crop``: images predict at full resolution, tile by tile). The
checkpoints are kept in ``--workdir`` for the next run.

Latency, per checkpoint and image size: ``engine`` is the window's model engine with a
cached export (ONNX Runtime, numpy and OpenCV, no torch: ``OnnxPredictor``); ``predict``
is ``segapp predict``'s ``Predictor`` (on the CPU: ONNX Runtime inside PyTorch's
predictor); ``torch`` is the same on PyTorch (``SEGAPP_BACKEND=torch``, or while the
export runs), and ``max |dp|`` the largest difference between the ONNX and PyTorch
probabilities (``onnx_predictor.PROBABILITY_TOLERANCE`` is what the tests allow).

Memory: each path in a fresh process; the baseline is taken once the backend is ready
(the model loaded, its export made and loaded, the image decoded), then the peak resident
memory is reset (``/proc/self/clear_refs``) and read again after the prediction, so
neither the export nor the loading hides the prediction's own peak.

``--photos``: the window's whole proposal path (the engine's ``proposal_probs``, so a
refining checkpoint's closer look too, then ``proposal_labels``) with a trained checkpoint on
real photos (``--data``, default the shared human-segmentation set, its street scenes
``--photo-ids`` 161-170: what a refining checkpoint does depends on what it finds in them,
and in a close-up that fills the frame it takes no closer look), each brought to a
longer side of each ``--sizes`` px: the median milliseconds of the probabilities and of the
labels.

``--presets``: untrained presets at one tile covering the image, ``bare`` (the network's
forward pass on a ready tensor) against ``engine`` (``Predictor.predict`` on PyTorch).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

MODES = ("resize", "crop")
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "human-segmentation"
TRAIN_STEPS = 6


def _timeit(fn, reps: int) -> float:
    return _timed(fn, reps)[0]


def _timed(fn, reps: int):
    """(median milliseconds of ``reps`` calls after a warm-up call, the last result)."""
    result = fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


# ---------------------------------------------------------------- trained default checkpoints
def _write_pairs(root: Path, n: int, height: int, width: int, seed: int) -> Path:
    """Discs on textured noise: images/ and masks/ (0/255)."""
    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        mask = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(3, 12))):
            r = int(rng.integers(min(height, width) // 30, min(height, width) // 6))
            center = (int(rng.integers(r, width - r)), int(rng.integers(r, height - r)))
            cv2.circle(mask, center, r, 255, -1)
        noise = rng.normal(90, 30, (height, width))
        gray = np.clip(noise + (mask > 0) * 80, 0, 255).astype(np.uint8)
        image = np.stack([gray, 255 - gray, gray // 2 + 60], axis=2)
        cv2.imwrite(str(root / "images" / f"{i:02d}.png"), image)
        cv2.imwrite(str(root / "masks" / f"{i:02d}.png"), mask)
    return root


def default_checkpoint(mode: str, workdir: Path) -> Path:
    """A checkpoint of the default preset trained with the default config (a few steps)
    in ``mode`` (``--resize-mode``: the generated scans' discs would survive a resize, so
    ``auto``, which reads the masks, would train them whole), on images of that kind."""
    from segapp.ml.checkpoint import read_config
    from segapp.ml.train import TrainConfig, train

    folder = workdir / f"default-{mode}"
    if (folder / "model.safetensors").is_file():
        return folder
    if mode == "resize":  # photos: 640 x 480, under 3x the training size
        data = _write_pairs(workdir / "photos", 8, 480, 640, seed=0)
    else:  # scans: 2048 px, over 3x the training size
        data = _write_pairs(workdir / "scans", 3, 2048, 2048, seed=1)
    config = TrainConfig(
        data=str(data), out=str(folder), steps=TRAIN_STEPS, time_budget=0, resize_mode=mode
    )
    t0 = time.perf_counter()
    for _ in train(config):
        pass
    train_config = read_config(folder)["train"]
    assert train_config["resize_mode"] == mode, train_config["resize_mode"]
    print(
        f"trained {train_config['model']} in {mode} mode (size {train_config['size']}, "
        f"{TRAIN_STEPS} steps, {time.perf_counter() - t0:.0f} s): {folder}",
        flush=True,
    )
    return folder


def _image(size: int) -> np.ndarray:
    return np.random.default_rng(size).integers(0, 255, (size, size, 3), dtype=np.uint8)


def _engine_predictor(folder: Path):
    """The window's engine path: the checkpoint's cached export, no torch."""
    from segapp.ml import onnx_predictor as onnx

    config = onnx.read_checkpoint_config(folder)
    path = onnx.export_path(folder, config)
    meta = onnx.read_meta(path)
    if meta is None:
        raise SystemExit(f"no cached export of {folder}: run the latency benchmark first")
    train = config.get("train", {})
    return onnx.for_checkpoint(path, meta, train)


def bench_checkpoints(workdir: Path, sizes: list[int], reps: int, one_pass: bool = False) -> None:
    import torch

    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor
    from segapp.ml.onnx_backend import export_checkpoint
    from segapp.ml.onnx_predictor import PROBABILITY_TOLERANCE

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"{'checkpoint':16} {'px':>5} {'engine ms':>10} {'predict ms':>11} {'torch ms':>9}  "
        f"max |dp|  refine ms"
    )
    worst = 0.0
    for mode in MODES:
        folder = default_checkpoint(mode, workdir)
        export_checkpoint(folder)
        engine = _engine_predictor(folder)
        cli = Predictor(load_model(folder), "cpu")  # segapp predict: ONNX Runtime on the CPU
        eager = Predictor(load_model(folder), "cpu", backend="torch")
        assert cli.backend == "onnx"
        if one_pass:  # without the mirrored pass a resize-mode checkpoint averages in
            engine.mirror = cli.mirror = eager.mirror = False
        for size in sizes:
            image = _image(size)
            r = reps if size <= 1024 else max(1, reps // 3)
            timed = [_timed(lambda p=p, im=image: p.predict(im), r) for p in (engine, cli, eager)]
            row = [ms for ms, _ in timed]
            diff = float(np.abs(timed[0][1] - timed[2][1]).max())
            worst = max(worst, diff)
            # the proposal's refinement after the probabilities, as the checkpoint chose it
            refine_ms = _timeit(lambda im=image, pr=timed[0][1], p=cli: p.to_labels(im, pr), r)
            print(
                f"{mode:16} {size:>5} {row[0]:>10.1f} {row[1]:>11.1f} {row[2]:>9.1f}  "
                f"{diff:.1e}  {refine_ms:>9.1f} ({cli.refine})",
                flush=True,
            )
    print(f"largest ONNX/PyTorch difference {worst:.1e} (tests allow {PROBABILITY_TOLERANCE:g})")


def bench_photos(
    folder: Path, data: Path, ids: range, sizes: list[int], reps: int, one_pass: bool = False
) -> None:
    from segapp.core.project import Project
    from segapp.ml.proposal_refine import proposal_labels, proposal_probs, refine_of

    engine = _engine_predictor(folder)
    if one_pass:  # without the mirrored pass the version's proposals average in
        engine.mirror = False
    refine = refine_of(folder)
    source = Project.open(data)
    photos = [
        source.read_image(e) for e in source.entries if e.stem.isdigit() and int(e.stem) in ids
    ]
    passes = "mirrored pass" if engine.mirror else "one pass"
    print(f"{folder} ({refine}, {passes}), {len(photos)} photos of {data}")
    print(f"{'longer side':>11} {'probabilities ms':>17} {'labels ms':>10} {'total ms':>9}")
    for size in sizes:
        probs_ms, labels_ms = [], []
        for photo in photos:
            h, w = photo.shape[:2]
            scale = size / max(h, w)
            image = cv2.resize(photo, (round(w * scale), round(h * scale)), cv2.INTER_CUBIC)
            ms, probs = _timed(
                lambda im=image: proposal_probs(engine.predict, im, refine, True), reps
            )
            probs_ms.append(ms)
            labels_ms.append(
                _timeit(lambda im=image, p=probs: proposal_labels(im, p, 0.5, refine), reps)
            )
        a, b = statistics.median(probs_ms), statistics.median(labels_ms)
        print(f"{size:>11} {a:>17.1f} {b:>10.1f} {a + b:>9.1f}", flush=True)


# ---------------------------------------------------------------- memory
def _rss_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _memory_child(path: str, folder: str, size: int, tile: int) -> None:
    """One measurement in a fresh process: prints a JSON line."""
    image = _image(size)
    if path == "engine":
        predictor = _engine_predictor(Path(folder))
    else:
        from segapp.ml.checkpoint import load_model
        from segapp.ml.infer import Predictor

        backend = "torch" if path == "torch" else "auto"
        predictor = Predictor(load_model(folder), "cpu", tile=tile, backend=backend)
    predictor.tile = tile
    ready = _rss_mib("VmRSS")  # the backend is ready: model, export and image in memory
    before_reset = _rss_mib("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
    t0 = time.perf_counter()
    predictor.predict(image)
    seconds = time.perf_counter() - t0
    peak = _rss_mib("VmHWM")
    out = {"ready": ready, "peak": peak, "seconds": seconds, "peak_before": before_reset}
    print(json.dumps(out | {"torch": "torch" in sys.modules}))


def bench_memory(workdir: Path, size: int, tiles: list[int]) -> None:
    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor
    from segapp.ml.onnx_backend import export_checkpoint

    print(f"a trained default checkpoint on a {size}x{size} RGB image: resident memory (MiB)")
    head = f"{'checkpoint':8} {'path':8} {'tile':>5} {'ready':>7} {'peak':>7} {'added':>7}"
    print(f"{head} {'s':>6}  torch loaded")
    for mode in MODES:
        folder = default_checkpoint(mode, workdir)
        export_checkpoint(folder)  # the engine's export, and PyTorch predictor's, cached
        Predictor(load_model(folder), "cpu")
        for path in ("engine", "predict", "torch"):
            for tile in tiles if mode == "crop" else tiles[:1]:
                cmd = [sys.executable, __file__, "--memory-child", path, str(folder)]
                out = subprocess.run(
                    [*cmd, str(size), str(tile)], capture_output=True, text=True, check=True
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                added = r["peak"] - r["ready"]
                print(
                    f"{mode:8} {path:8} {tile:>5} {r['ready']:>7.0f} {r['peak']:>7.0f} "
                    f"{added:>7.0f} {r['seconds']:>6.1f}  {'yes' if r['torch'] else 'no'}",
                    flush=True,
                )


# ---------------------------------------------------------------- untrained presets
def _loaded(name: str):
    from segapp.ml.checkpoint import LoadedModel
    from segapp.ml.registry import create_model, preset_spec

    overrides = {"encoder_weights": ""} if name == "pretrained-resnet34" else {}
    spec = preset_spec(name, **overrides)
    return LoadedModel(create_model(spec).eval(), spec, name)


def bench_presets(presets: list[str], sizes: list[int], reps: int) -> None:
    import torch

    from segapp.ml.infer import Predictor, input_size_for_output

    print(f"untrained presets, PyTorch, {torch.get_num_threads()} threads")
    print(f"{'preset':20} {'px':>5} {'bare ms':>9} {'engine ms':>10} {'overhead':>9}")
    for name in presets:
        loaded = _loaded(name)
        for size in sizes:
            # one tile covering the image (valid-convolution nets: input larger than output)
            n = input_size_for_output(loaded.model, size)
            pred = Predictor(loaded, "cpu", channels_last=False, tile=n, backend="torch")
            image = _image(size)
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


def bench_training(presets: list[str], size: int, batch: int) -> None:
    import torch

    from segapp.ml.registry import count_parameters
    from segapp.ml.tiling import train_tile

    print(f"training, {size}px, batch {batch}: images/s (forward+backward+AdamW step)")
    for name in presets:
        model = _loaded(name).model.train()
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        tile = train_tile(model, size)
        x = torch.randn(batch, 3, tile.input, tile.input)
        y = torch.randint(0, 2, (batch, 1, tile.output, tile.output)).float()

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()

        ms = _timeit(step, 3)
        params = count_parameters(model) / 1e6
        print(f"{name:20} {batch / (ms / 1000):>7.2f} img/s  ({params:.1f}M params)", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    from segapp.ml.registry import PRESETS

    p = argparse.ArgumentParser()
    p.add_argument("--workdir", type=Path, help="where the trained checkpoints are kept")
    p.add_argument("--sizes", default="512,1024,4096")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--memory", action="store_true")
    p.add_argument("--memory-size", type=int, default=4096)
    p.add_argument("--tiles", default="1024,512,2048", help="--memory: tile sizes (crop mode)")
    p.add_argument("--presets", help="untrained presets (comma-separated) instead")
    p.add_argument("--training", action="store_true")
    p.add_argument("--photos", type=Path, help="a trained checkpoint: its proposals of photos")
    p.add_argument("--data", type=Path, default=PHOTOS, help="--photos: a folder or project")
    p.add_argument("--photo-ids", default="161-170", help="--photos: the images lo-hi by stem")
    p.add_argument("--one-pass", action="store_true", help="without the mirrored pass")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.training:
        bench_training((args.presets or ",".join(PRESETS)).split(","), 256, 4)
        return
    if args.photos:
        os.environ.setdefault("SEGAPP_CACHE", str(Path(tempfile.gettempdir()) / "segapp-bench"))
        from segapp.ml.onnx_backend import export_checkpoint

        export_checkpoint(args.photos)
        lo, hi = (int(x) for x in args.photo_ids.split("-"))
        bench_photos(args.photos, args.data, range(lo, hi + 1), sizes, args.reps, args.one_pass)
        return
    if args.presets:
        bench_presets(args.presets.split(","), sizes, args.reps)
        return
    workdir = args.workdir or Path(tempfile.gettempdir()) / "segapp-bench-predict"
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SEGAPP_CACHE", str(workdir / "cache"))  # the exports, kept too
    if args.memory:
        bench_memory(workdir, args.memory_size, [int(t) for t in args.tiles.split(",")])
    else:
        bench_checkpoints(workdir, sizes, args.reps, args.one_pass)


if __name__ == "__main__":
    main()
