"""The Click tool's request to the model engine: refine one class's mask from clicks.

No Qt here: the propose worker's thread calls :func:`send_refine` with its
:class:`~segapp.ml.engine_client.EngineClient`, and the benchmarks call it alike. The
engine's ``refine`` op takes the class's current mask (``prev``, 0/1) and the clicks, and
answers the new mask inside a window of the image (a refiner trained on the project, or
GrabCut while there is none). The image travels once per ``image_key``: the engine keeps
it, and says ``need_image`` when it has not (a new key, or a restarted engine).

The worker also turns the answer into the :class:`~segapp.core.tools.Patch` the document
applies (cropped to the pixels that change), so the GUI thread's share of a refine is a
copy of the mask when sending and a patch of the changed pixels when applying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from segapp.core import tools
from segapp.core.clicks import Click
from segapp.core.tools import BACKGROUND, Patch, Rect
from segapp.ml.engine_client import EngineClient


@dataclass
class RefineRequest:
    """One refine: the clicks on ``labels`` (a copy the worker may read) for class ``active``.

    ``base``: when set, the class is redrawn from it instead (a dot was removed): it comes
    back inside ``changed`` (what the series changed so far) and the answer goes on top.
    """

    seq: int
    model_ref: str  # a trained checkpoint folder, or "" (the engine's model-free fallback)
    classes: int
    image_key: str
    image: np.ndarray  # the document's image (read-only, never changed)
    labels: np.ndarray  # the whole label mask when sent (the worker makes ``prev`` of it)
    active: int
    clicks: tuple[Click, ...]
    threshold: float = 0.5
    sent_at: float = 0.0  # time.perf_counter() of the click that asked for it
    protect: bool = False  # "Protect other classes": paint over background only
    base: np.ndarray | None = None
    changed: Rect | None = None


@dataclass
class RefineResult:
    """The engine's answer: the class's new mask (0/1) inside ``window`` (x, y, w, h)."""

    seq: int
    window: Rect
    mask: np.ndarray
    refiner: str  # "model" | "grabcut"
    refiner_name: str  # for the status bar
    engine_s: float  # seconds from sending to the answer (this thread)
    patch: Patch | None = None  # what changes in ``labels`` (None: nothing)


class RefineFailed(Exception):
    """The engine answered that this refine cannot be made."""


def send_refine(
    client: EngineClient,
    req: RefineRequest,
    sent_keys: set[str],  # the image key the engine holds (it keeps one image)
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> RefineResult:
    """Ask ``client`` for one refine; ``sent_keys``: image keys the engine has (updated).

    Raises :class:`RefineFailed` (the engine's error) or EngineError (the process is gone).
    """
    t0 = time.perf_counter()
    prev = ((req.labels if req.base is None else req.base) == req.active).view(np.uint8)
    header = {"op": "refine", "model": req.model_ref, "classes": req.classes}
    header |= {"image_key": req.image_key, "threshold": req.threshold, "class_value": req.active}
    header["clicks"] = [[round(c.x), round(c.y), int(c.positive)] for c in req.clicks]
    with_image = req.image_key not in sent_keys
    reply, arrays = client.request(header, [prev, req.image] if with_image else [prev], on_event)
    if not reply.get("ok") and reply.get("need_image") and not with_image:
        reply, arrays = client.request(header, [prev, req.image], on_event)
    if not reply.get("ok"):
        sent_keys.discard(req.image_key)
        raise RefineFailed(reply.get("error", "the engine could not refine the mask"))
    sent_keys.clear()  # the engine keeps the last image only
    sent_keys.add(req.image_key)
    x, y, w, h = (int(v) for v in reply["window"])
    mask, (ih, iw) = arrays[0], req.image.shape[:2]
    if mask.shape != (h, w) or x < 0 or y < 0 or x + w > iw or y + h > ih:
        raise RefineFailed(f"the engine answered a {mask.shape} mask for window {x, y, w, h}")
    kind, name = str(reply.get("refiner", "")), str(reply.get("refiner_name", ""))
    patch = result_patch(req, (x, y, w, h), mask)
    return RefineResult(req.seq, (x, y, w, h), mask, kind, name, time.perf_counter() - t0, patch)


def result_patch(req: RefineRequest, window: Rect, mask: np.ndarray) -> Patch | None:
    """The patch of ``req.labels`` that makes ``mask`` (0/1 in ``window``) the class there,
    cropped to the pixels that change (None: none does)."""
    overwrite = {BACKGROUND, req.active} if req.protect else None
    if req.base is None:
        x, y = window[:2]
        return _tight(req.labels, tools.class_window(req.labels, x, y, mask, req.active, overwrite))
    x, y, w, h = tools.union(req.changed, window)  # the base inside ``changed``, then the answer
    values = req.labels[y : y + h, x : x + w].copy()
    if req.changed is not None:
        cx, cy, cw, ch = req.changed
        values[cy - y : cy - y + ch, cx - x : cx - x + cw] = req.base[cy : cy + ch, cx : cx + cw]
    wx, wy = window[0] - x, window[1] - y
    answer = tools.class_window(values, wx, wy, mask, req.active, overwrite)
    if answer is not None:
        answer.apply(values)
    return _tight(req.labels, Patch(x, y, values))


def _tight(labels: np.ndarray, patch: Patch | None) -> Patch | None:
    """``patch`` cropped to the bounding box of the pixels it changes in ``labels``."""
    if patch is None:
        return None
    box = tools.bbox(patch.values != labels[patch.slices])
    if box is None:
        return None
    x, y, w, h = box
    return Patch(patch.x + x, patch.y + y, patch.values[y : y + h, x : x + w].copy())
