"""Farthest-first suggestions over colour-layout signatures."""

from __future__ import annotations

import numpy as np

from segapp.core.diversity import farthest_first, signature


def _scene(kind: str, seed: int, shape=(60, 80)) -> np.ndarray:
    """Two kinds of picture: a bright sky over a dark street, or a face-like blob on grey."""
    rng = np.random.default_rng(seed)
    h, w = shape
    img = np.zeros((h, w, 3), np.uint8)
    if kind == "street":
        img[: h // 2] = (150, 190, 240)
        img[h // 2 :] = (60, 60, 70)
    else:
        img[:] = (128, 128, 128)
        img[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = (220, 170, 140)
    noise = rng.integers(-10, 10, img.shape)
    return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)


def test_signatures_describe_layout_not_exposure_or_size():
    a = signature(_scene("street", 0))
    assert a.shape == (192,) and a.dtype == np.float32 and abs(np.linalg.norm(a) - 1) < 1e-5
    brighter = signature(np.clip(_scene("street", 0).astype(int) + 30, 0, 255).astype(np.uint8))
    larger = signature(_scene("street", 0, (600, 800)))
    portrait = signature(_scene("portrait", 0))
    assert np.linalg.norm(a - brighter) < 0.2 and np.linalg.norm(a - larger) < 0.2
    assert np.linalg.norm(a - portrait) > 0.5
    gray16 = (_scene("street", 1)[:, :, 0].astype(np.uint16)) * 257
    assert signature(gray16).shape == (192,)
    assert not signature(np.full((10, 10), 7, np.uint8)).any()  # one flat colour: zeros


def test_farthest_first_covers_both_kinds_before_repeating_one():
    sigs = {f"p{i}": signature(_scene("portrait", i)) for i in range(6)}
    sigs |= {f"s{i}": signature(_scene("street", i)) for i in range(3)}
    # a person corrected the first two portraits: the next suggestion is a street scene
    (nxt,) = farthest_first(sigs, ["p0", "p1"])
    assert nxt.startswith("s")
    # from nothing: the first image starts, then the other kind
    assert farthest_first(sigs, [], 2)[0] == "p0" and farthest_first(sigs, [], 2)[1][0] == "s"
    picked = farthest_first(sigs, ["p0"], 20)
    assert sorted(picked) == sorted(set(sigs) - {"p0"})  # all, each once, chosen left out
    assert farthest_first(sigs, ["gone"], 1) == ["p0"]  # unknown stems are ignored
    assert farthest_first({}, [], 3) == [] and farthest_first(sigs, [], 0) == []


def test_weights_choose_among_the_unlike_the_image_the_model_is_unsure_of():
    """Distance x weight: a near image the model is unsure of beats a far one it knows; a
    stem without a weight weighs the others' mean; with nothing chosen the heaviest starts."""
    sig = {
        "done": np.array([0.0, 0.0], np.float32),
        "far": np.array([1.0, 0.0], np.float32),
        "near": np.array([0.0, 0.5], np.float32),
        "mid": np.array([0.7, 0.0], np.float32),
    }
    assert farthest_first(sig, ["done"], 1) == ["far"]  # distance alone
    assert farthest_first(sig, ["done"], 1, {"far": 0.1, "near": 0.9, "mid": 0.1}) == ["near"]
    # "mid" unscored weighs mean(0.1, 0.2) = 0.15: 0.7 x 0.15 beats 1.0 x 0.1 and 0.5 x 0.2
    assert farthest_first(sig, ["done"], 1, {"far": 0.1, "near": 0.2}) == ["mid"]
    assert farthest_first(sig, [], 2, {"done": 0.1, "far": 0.2, "near": 0.9, "mid": 0.1}) == [
        "near",
        "far",  # then 1.12 x 0.2 against 0.86 x 0.1 for mid and 0.5 x 0.1 for done
    ]
    assert farthest_first(sig, ["done"], 1, {}) == ["far"]  # no scores: as without weights
