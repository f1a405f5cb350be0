"""What a training run writes: the chosen checkpoint, ``metrics.csv``, ``last/`` for
``--resume``, and reading ``last/`` back."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from segapp.core.imageio import write_bytes_atomic
from segapp.ml.checkpoint import (
    load_optimizer,
    load_weights,
    read_config,
    save_checkpoint,
    save_optimizer,
)
from segapp.ml.train_config import TrainingError, json_number


def save_epoch(out, run, metrics, val, is_best, history, schedule, trusted, writer):
    """Write the chosen checkpoint (when this epoch is it), metrics.csv and ``last/``."""
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
        save_checkpoint(
            out, run.model, run.spec, run.meta | {"metrics": summary, "created": _now()}
        )
    write_metrics_csv(out, history)
    save_last(
        out,
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
    if writer:
        for key in ("train_loss", "val_loss", "val_iou", "val_dice", "lr"):
            writer.add_scalar(key, getattr(metrics, key), metrics.epoch)
        writer.flush()


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
