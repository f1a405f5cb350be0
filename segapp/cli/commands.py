"""The headless commands; each returns the process exit code."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from segapp.core.imageio import SegappError, describe_write_error, is_image_file

log = logging.getLogger("segapp")


def _read_list(path: str | None) -> list[str] | None:
    if not path:
        return None
    try:
        return [s.strip() for s in Path(path).read_text().splitlines() if s.strip()]
    except OSError as e:
        raise SegappError(f"{path}: cannot read the list of images ({e.strerror})") from e


def _graceful_stop_flag(listen_stdin: bool) -> threading.Event:
    """Set on the first Ctrl+C (SIGINT) or a 'stop' line on stdin: finish the batch, keep best."""
    flag = threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    owner = os.getpid()

    def on_sigint(signum, frame):
        if os.getpid() != owner:  # a data-loading process (forked): the run stops it
            return
        if flag.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        log.warning("stopping after this batch (Ctrl+C again to abort)")
        flag.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_sigint)
    if listen_stdin and not sys.stdin.isatty():

        def watch():
            try:
                for line in sys.stdin:
                    if line.strip().lower() == "stop":
                        flag.set()
                        return
            except (OSError, ValueError):  # stdin closed or not readable: Ctrl+C still works
                return

        threading.Thread(target=watch, daemon=True).start()
    return flag


def cmd_train(args) -> int:
    from segapp.ml.train import train

    config = _train_config(args)
    _check_train_args(config)
    rank = int(os.environ.get("RANK", "0"))
    stop = _graceful_stop_flag(listen_stdin=args.json)
    progress = _TrainProgress(json_lines=args.json and rank == 0, quiet=rank != 0)
    last = None
    started_at = getattr(args, "started_at", None)  # set by main(): the budget counts loading
    epochs = train(
        config, should_stop=stop.is_set, on_batch=progress.on_batch, started_at=started_at
    )
    try:
        for m in epochs:
            last = m
            progress.on_epoch(m)
    finally:
        progress.close()
    if rank == 0 and last is not None:
        print(_done_line(args, last), flush=True)
    return 0


def _train_config(args):
    """The ``TrainConfig`` of ``segapp train``'s arguments."""
    from segapp.ml.train import TrainConfig

    return TrainConfig(
        data=args.data,
        out=args.out,
        model=args.model,
        epochs=args.epochs,
        size=args.size,
        batch_size=args.batch_size,
        lr=args.lr,
        loss=args.loss,
        val_fraction=args.val_fraction,
        device=args.device,
        seed=args.seed,
        resume=args.resume,
        resize_mode=args.resize_mode,
        keep_aspect=args.keep_aspect,
        augment=args.augment,
        copy_paste=args.copy_paste,
        distractors=args.distractors,
        object_blur=args.object_blur,
        orientation=args.orientation,
        hue=args.hue,
        refine=args.refine,
        patience=args.patience,
        workers=args.workers,
        amp=not args.no_amp,
        encoder_weights=("" if args.encoder_weights == "none" else args.encoder_weights),
        tensorboard=args.tensorboard,
        images=_read_list(args.images),
        val_images=_read_list(args.val_images),
        repeats=args.repeats,
        steps=args.steps,
        time_budget=args.time_budget,
        encoder_lr_scale=args.encoder_lr_scale,
        freeze_encoder_bn=not args.no_freeze_bn,
        unlabeled=args.unlabeled,
        clicks=args.clicks,
    )


class _TrainProgress:
    """Batches and epochs as JSON lines (``--json``, about ten batch lines an epoch) or as one
    progress bar of the run's steps and one line per epoch; nothing on the other ranks of a
    distributed run."""

    def __init__(self, json_lines: bool, quiet: bool) -> None:
        self.json_lines, self.quiet = json_lines, quiet
        self.bar = None

    def on_batch(self, i: int, n: int, loss: float, step: int, steps: int) -> None:
        if self.json_lines:
            if i % max(1, n // 10) == 0 or i == n:
                line = {"event": "batch", "batch": i, "batches": n, "loss": round(loss, 5)}
                print(json.dumps(line | {"step": step, "steps": steps}), flush=True)
            return
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None:
            # disable=None: no bar when stderr is not a terminal (a log file got every
            # redraw, joined by carriage returns); the epoch lines on stdout say the progress
            self.bar = tqdm(total=steps, desc="train", unit="step", disable=None)
        self.bar.total = steps  # the time budget may cut the plan as the run goes
        self.bar.n = step
        self.bar.set_postfix(loss=f"{loss:.4f}")
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_epoch(self, m) -> None:
        from tqdm import tqdm

        if self.quiet:
            return
        if self.json_lines:
            print(json.dumps({"event": "epoch"} | m.to_dict()), flush=True)
            return
        val = (
            f"val loss {m.val_loss:.4f}  val IoU {m.val_iou:.4f}  Dice {m.val_dice:.4f}"
            if m.extra.get("val_images")
            else "no validation images"
        )
        best = m.extra.get("val_trusted") and m.best_epoch == m.epoch  # else: the last is kept
        tqdm.write(
            f"epoch {m.epoch}/{m.epochs}  train loss {m.train_loss:.4f}  {val}  "
            f"{m.seconds:.1f}s  ETA {m.eta_seconds / 60:.1f} min" + ("  (best)" if best else "")
        )


def _done_line(args, last) -> str:
    """The last line of a run: where the checkpoint is and which epoch it keeps."""
    from segapp.ml import recipe

    if args.json:
        done = {
            "event": "done",
            "out": str(Path(args.out).resolve()),
            "best_epoch": last.best_epoch,
            "best_val_iou": last.to_dict()["best_iou"],
            "stopped": last.stopped,
            "left_out": _left_out(Path(args.out)),
        }
        return json.dumps(done)
    if last.extra.get("val_trusted"):
        return (
            f"best val IoU {last.best_iou:.4f} at epoch {last.best_epoch}; checkpoint: {args.out}"
        )
    return (
        f"kept the last epoch ({last.epoch}): fewer than {recipe.MIN_VAL_IMAGES} "
        f"validation images; checkpoint: {args.out}"
    )


def _left_out(out: Path) -> list[str]:
    """Why the pairs the run could not use were left out (its config.json's ``left_out``)."""
    try:
        return list(json.loads((out / "config.json").read_text()).get("left_out", []))
    except (OSError, ValueError):
        return []


def _check_train_args(config) -> None:
    for name in ("epochs", "batch_size", "steps", "repeats"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise SegappError(f"--{name.replace('_', '-')} must be >= 1")
    if config.size < 16:
        raise SegappError("--size must be >= 16")
    if config.time_budget is not None and config.time_budget < 0:
        raise SegappError("--time-budget must be >= 0 seconds (0 = no limit)")
    for name in ("copy_paste", "distractors", "object_blur"):
        if not 0 <= getattr(config, name) <= 1:
            raise SegappError(f"--{name.replace('_', '-')} must be between 0 and 1 (0 = off)")
    if not 0 <= config.clicks <= 1:
        raise SegappError("--clicks must be between 0 and 1 (0 = a proposal model only)")
    if config.unlabeled is not None and config.unlabeled < 0:
        raise SegappError("--unlabeled must be >= 0 (0 = off)")
    if config.encoder_lr_scale <= 0:
        raise SegappError("--encoder-lr-scale must be > 0")
    if not 0 <= config.val_fraction < 1:
        raise SegappError("--val-fraction must be in [0, 1)")
    if config.lr <= 0:
        raise SegappError("--lr must be > 0")
    from segapp.ml.losses import LOSSES

    if config.loss not in LOSSES:
        raise SegappError(f"unknown loss {config.loss!r}; choose one of {', '.join(LOSSES)}")
    if config.workers is not None and config.workers < 0:
        raise SegappError("--workers must be >= 0 (0 = load in the training process)")
    out = Path(config.out)
    if not config.resume and (out / "model.safetensors").exists():
        raise SegappError(
            f"{out}: holds a trained model already; train into a new --out folder (or "
            "--resume to continue that run): a checkpoint is never replaced by another run"
        )
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """SegappError now, not after the work is done, when the folder ``out`` cannot be
    written (it is made if need be)."""
    probe = out / f".segapp-write-check-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SegappError(describe_write_error(out, e)) from e
    try:
        probe.write_bytes(b"segapp")
        probe.unlink()
    except OSError as e:  # said of the folder (said of the probe, it named the one above)
        said = describe_write_error(probe, e)
        raise SegappError(said.replace(str(probe), str(out), 1)) from e


def collect_images(inputs: list[str]) -> list[Path]:
    """Image files named directly or found in folders (or their images/ subfolder)."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            folder = p / "images" if (p / "images").is_dir() else p
            found = sorted(f for f in folder.iterdir() if is_image_file(f))
            if not found:
                raise SegappError(f"{p}: no images (PNG/JPEG/TIFF/BMP) in this folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise SegappError(f"{p}: no such file or folder")
    return files


def output_names(files: list[Path], out: Path) -> dict[Path, Path]:
    """The mask file of each input: ``STEM.png``; inputs that share a stem (``a.png`` and
    ``a.jpg``, or two folders) get ``STEM_2.png`` ..., so no output replaces another."""
    targets: dict[Path, Path] = {}
    taken: set[str] = set()
    stems = {f.stem for f in files}
    for f in files:
        name, n = f.stem, 1
        while name in taken or (n > 1 and name in stems):
            n += 1
            name = f"{f.stem}_{n}"
        if n > 1:
            print(
                f"segapp: note: {f} shares its name with another input: mask {name}.png",
                file=sys.stderr,
            )
        taken.add(name)
        targets[f] = out / f"{name}.png"
    return targets


def _refuse_to_overwrite(targets: list[Path], out: Path, overwrite: bool) -> None:
    """SegappError (before any work) when masks ``predict`` would write are already there."""
    there = [t for t in targets if t.exists()]
    if there and not overwrite:
        raise SegappError(
            f"{out}: {len(there)} of the {len(targets)} masks to write are already there "
            f"(e.g. {there[0].name}); predict does not replace masks: choose another --out, "
            "or add --overwrite"
        )


def cmd_predict(args) -> int:
    from tqdm import tqdm

    from segapp.core.imageio import read_image, write_mask
    from segapp.ml.checkpoint import load_model
    from segapp.ml.device import resolve_device
    from segapp.ml.infer import Predictor
    from segapp.ml.progress import progress

    files = collect_images(args.inputs)
    out = Path(args.out)
    targets = output_names(files, out)
    _refuse_to_overwrite(list(targets.values()), out, args.overwrite)
    _check_writable(out)  # before the model loads, not at the first mask
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    files = files[rank::world]  # torchrun: each rank takes its share
    device = resolve_device(args.device)
    if world > 1 and device.type == "cuda":
        import torch

        device = torch.device(
            "cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
        )
    loaded = load_model(args.model, device)
    refine = None if args.refine == "model" else args.refine
    predictor = Predictor(loaded, device, tile=args.tile, refine=refine)
    binary = loaded.spec.is_binary
    failures = 0
    for f in progress(files, "predict", "img", disable=args.json or rank != 0):
        try:
            labels = predictor.predict_labels(read_image(f), args.threshold)
        except SegappError as e:
            failures += 1
            tqdm.write(f"segapp: skipped {e}", file=sys.stderr)  # on a line of its own
            continue
        mask = labels * 255 if binary else labels
        target = targets[f]
        write_mask(target, mask)
        if args.json:
            line = {
                "image": str(f),
                "mask": str(target),
                "foreground_fraction": round(float((labels > 0).mean()), 6),
            }
            # one write per line: under torchrun the ranks share stdout, and print() writes
            # the newline apart when Python runs unbuffered (two ranks' lines ran together)
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()
    if predictor.fallback_message:
        print(f"segapp: warning: {predictor.fallback_message}", file=sys.stderr)
    if failures:
        print(f"segapp: {failures} of {len(files)} images could not be read", file=sys.stderr)
        return 2
    return 0


def cmd_evaluate(args) -> int:
    from segapp.ml import evaluate

    if args.clicks:  # the clicks (and brush dabs) a mask costs
        if args.sheet:
            raise SegappError("--sheet does not go with --clicks")
        results = evaluate.evaluate_clicks(
            args.models,
            args.data,
            split=args.split,
            max_clicks=20 if args.max_clicks is None else args.max_clicks,
            start=args.start or "proposal",
            device=args.device,
            progress=not args.json,
        )
        table = evaluate.format_clicks_table
    else:
        if args.max_clicks is not None or args.start is not None:
            raise SegappError("--max-clicks and --from go with --clicks")
        if args.sheet:  # found now, not after every model has been scored
            _check_writable(Path(args.sheet).expanduser().absolute().parent)
        results = evaluate.evaluate_models(
            args.models,
            args.data,
            split=args.split,
            threshold=args.threshold,
            device=args.device,
            sheet=args.sheet,
            refine=None if args.refine == "model" else args.refine,
            samples=args.samples,
            progress=not args.json,
        )
        table = evaluate.format_table
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        print(table(results))
        if args.sheet:
            print(f"comparison sheet: {args.sheet}")
    return 0


def cmd_models(args) -> int:
    from segapp.ml.registry import PRESETS, count_parameters, create_model, preset_spec

    print(f"{'preset':22} {'parameters':>12}  description")
    for name, (description, _) in PRESETS.items():
        model = create_model(preset_spec(name), pretrained=False)
        print(f"{name:22} {count_parameters(model) / 1e6:>11.2f}M  {description}")
    return 0


def cmd_demo(args) -> int:
    from segapp.demo import run_headless_demo

    if not args.headless:
        return open_window(["-v"] * args.verbose + ["--demo"])
    return run_headless_demo()


def cmd_open(args) -> int:
    """``segapp open PATH``: the window on PATH, whatever its name (even ``models`` or ``demo``)."""
    return open_window(["-v"] * args.verbose + ["--", args.path])


def open_window(argv: list[str]) -> int:
    """The labeling window (``segapp [-v] [--demo] [PATH]``); one line if Qt is unavailable."""
    try:
        from segapp.ui.app import run_app
    except ImportError as e:
        print(f"segapp: the window is not available ({e}); try 'segapp --help'", file=sys.stderr)
        return 2
    return run_app(argv)
