"""What a training run writes: the chosen checkpoint, ``metrics.csv``, ``last/`` for
``--resume``, and reading ``last/`` back."""

from __future__ import annotations

import datetime
import json
import time
from pathlib import Path

from segapp.core.imageio import write_bytes_atomic
from segapp.ml.checkpoint import (
    load_optimizer,
    load_weights,
    read_config,
    save_checkpoint,
    save_optimizer,
    weights_on_cpu,
)
from segapp.ml.train_config import TrainingError, json_number

SAVE_EVERY_S = 30.0  # a killed run loses at most this much; one that fails, none of its checkpoint


class EpochSaver:
    """What each epoch leaves in ``out``, paced: ``metrics.csv`` every epoch; the chosen
    checkpoint and ``last/`` after the first epoch, then once ``every`` seconds have passed
    since the last write, and at the run's end. A GPU's epoch of a 40-image round takes half
    a second, and writing both (weights, optimizer state, fsync) took 0.4 s of it (cProfile
    of `segapp train` on an H200). Between writes the chosen epoch's weights wait in memory;
    ``flush`` writes them when the run fails with an error. A killed process loses at most
    ``every`` seconds of training."""

    def __init__(self, out: str | Path, every: float | None = None):
        self.out = Path(out)
        self.every = SAVE_EVERY_S if every is None else every
        self.written_at: float | None = None  # time.monotonic() of the last write
        self._chosen: tuple[dict, dict] | None = None  # (CPU weights, config) not written

    def epoch_done(
        self, run, metrics, val, is_best, history, schedule, trusted, writer, final: bool
    ) -> None:
        """Record epoch ``metrics.epoch``; ``final``: the run ends with it."""
        now = time.monotonic()
        due = final or self.written_at is None or now - self.written_at >= self.every
        if is_best:
            summary = {
                "best_epoch": metrics.best_epoch,
                "best_val_iou": json_number(metrics.best_iou),
                "epoch": metrics.epoch,
                "val_iou": json_number(val["iou"]),
                "val_dice": json_number(val["dice"]),
                "val_loss": json_number(val["loss"]),
                "val_images": len(run.pairs_val),
                "val_trusted": trusted,
            }
            # written now from the model, or a copy the next steps leave alone
            weights = None if due else weights_on_cpu(run.model, copy=True)
            self._chosen = (weights, run.meta | {"metrics": summary, "created": _now()})
        write_metrics_csv(self.out, history)
        if writer:
            for key in ("train_loss", "val_loss", "val_iou", "val_dice", "lr"):
                writer.add_scalar(key, getattr(metrics, key), metrics.epoch)
            writer.flush()
        if not due:
            return
        self.flush(run)
        save_last(
            self.out,
            run.model,
            run.spec,
            run.optimizer,
            run.scheduler,
            run.meta,
            metrics.epoch,
            metrics.best_iou,
            metrics.best_epoch,
            history,
            schedule.epochs,
        )
        self.written_at = time.monotonic()

    def flush(self, run) -> None:
        """Write the chosen epoch's checkpoint if it waits in memory."""
        if self._chosen is not None:
            weights, config = self._chosen
            save_checkpoint(self.out, run.model, run.spec, config, weights=weights)
            self._chosen = None


def write_metrics_csv(out: Path, history: list[dict]) -> None:
    keys = [
        "epoch",
        "train_loss",
        "val_loss",
        "val_iou",
        "val_dice",
        "lr",
        "seconds",
        "images_per_second",
    ]
    rows = [["" if h[k] is None else str(h[k]) for k in keys] for h in history]
    lines = [",".join(keys)] + [",".join(row) for row in rows]
    write_bytes_atomic(out / "metrics.csv", ("\n".join(lines) + "\n").encode())


def save_last(
    out, model, spec, optimizer, scheduler, meta, epoch, best_iou, best_epoch, history, epochs
):
    last = out / "last"
    opt_meta = save_optimizer(last / "optimizer.safetensors", optimizer)
    state = {
        "epoch": epoch,
        "best_iou": best_iou,
        "best_epoch": best_epoch,
        "history": history,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict(),
        "planned_epochs": epochs,
    }
    save_checkpoint(last, model, spec, meta | {"state": state, "created": _now()})


def resume(out: Path, model, optimizer, scheduler):
    """Load ``out/last`` into the model, optimizer and scheduler: (next epoch, best IoU,
    best epoch, history, planned epochs)."""
    last = out / "last"
    try:
        state = read_config(last)["state"]
        load_weights(model, last / "model.safetensors")
        load_optimizer(last / "optimizer.safetensors", optimizer, state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epochs = int(state.get("planned_epochs") or len(state["history"]))
        return state["epoch"] + 1, state["best_iou"], state["best_epoch"], state["history"], epochs
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise TrainingError(
            f"{last}: incomplete or damaged ({type(e).__name__}: {e}); "
            "train without --resume, or into a new --out folder"
        ) from e


def record_rank_agreement(out: Path, checksums: list[float]) -> None:

    path = out / "ranks.json"
    write_bytes_atomic(path, json.dumps({"param_checksums": checksums}).encode())


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
