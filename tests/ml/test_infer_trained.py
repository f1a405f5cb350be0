"""Overlap-tile inference against one whole-image pass, on briefly *trained* nets (an untrained
net says about 0.5 everywhere, which any tiling matches).

A valid-convolution net (the 2015 paper's) on mirror-padded tiles whose starts lie on its
pooling grid computes exactly what the whole-image pass computes, blended overlaps included;
elsewhere tiles see other context (a padded net's zero padding at tile borders, or another
pooling phase), and the bounds below are what that costs, measured with some headroom.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_blob_pair

from segapp.ml.infer import plan_tiles, predict_tiled
from segapp.ml.preprocess import to_model_input
from segapp.ml.registry import create_model, preset_spec
from segapp.ml.tiling import input_size_for_output

CPU = torch.device("cpu")
NETS = {"padded": ("unet-small", {}), "valid": ("unet-paper", {"depth": 2})}


def _train(name: str, **kw):
    """A 4-channel-wide net after 60 Adam steps on 48 px blob images: confident outputs."""
    torch.manual_seed(0)
    spec = preset_spec(name, base_channels=4, **kw)
    model = create_model(spec)
    rng = np.random.default_rng(0)
    pairs = [make_blob_pair(rng, 48, 48) for _ in range(16)]
    in_size = input_size_for_output(model, 48)  # valid convolutions: mirror-padded input
    m = (in_size - model.output_size(in_size)) // 2
    pad = ((0, 0), (m, in_size - 48 - m), (m, in_size - 48 - m))
    x = np.stack([np.pad(to_model_input(img, spec), pad, mode="symmetric") for img, _ in pairs])
    y = np.stack([mask > 0 for _, mask in pairs]).astype(np.float32)[:, None]
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    model.train()
    for _ in range(60):
        idx = torch.randperm(len(x))[:4]
        logits = model(x[idx])[..., :48, :48]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), spec


@pytest.fixture(scope="module")
def trained():
    return {kind: _train(name, **kw) for kind, (name, kw) in NETS.items()}


def _image(spec, height: int, width: int):
    image, mask = make_blob_pair(np.random.default_rng(5), height, width)
    return to_model_input(image, spec), mask > 0


def _whole(model, x) -> np.ndarray:
    """One pass over the whole image (a tile larger than it)."""
    plan = plan_tiles(model, *x.shape[1:], tile=512, overlap=0)
    assert plan.ys == plan.xs == [0]
    return predict_tiled(model, x, CPU, tile=512, overlap=0)


def _iou(probs: np.ndarray, truth: np.ndarray) -> float:
    fg = probs[0] > 0.5
    return float((fg & truth).sum() / (fg | truth).sum())


@pytest.mark.parametrize("kind", ["padded", "valid"])
def test_the_trained_nets_say_something(trained, kind):
    model, spec = trained[kind]
    x, truth = _image(spec, 150, 190)
    whole = _whole(model, x)
    assert _iou(whole, truth) > 0.9
    assert ((whole < 0.1) | (whole > 0.9)).mean() > 0.15  # confident, not 0.5 everywhere


@pytest.mark.parametrize("overlap", [8, 16])
def test_valid_net_tiles_on_its_pooling_grid_equal_the_whole_image(trained, overlap):
    """Mirror padding, tile placement and blending add nothing: every tile computes each
    pixel as the whole-image pass does, so their blend is that value (float rounding)."""
    model, spec = trained["valid"]
    x, _ = _image(spec, 104, 136)  # 104 = 24 + 5 * 16 and 136 = 24 + 7 * 16: even steps
    plan = plan_tiles(model, 104, 136, tile=64, overlap=overlap)
    assert plan.margin > 0 and len(plan.ys) >= 6 and len(plan.xs) >= 8
    grid = 2**spec.depth  # tile starts on the pooling grid: same phase as the whole pass
    assert all(p % grid == 0 for p in plan.ys + plan.xs), (plan.ys, plan.xs)
    assert (np.diff(plan.xs) <= plan.out_tile - overlap).all()  # tiles overlap
    tiled = predict_tiled(model, x, CPU, tile=64, overlap=overlap)
    np.testing.assert_allclose(tiled, _whole(model, x), rtol=0, atol=2e-6)


def test_valid_net_tiles_off_the_grid_stay_close(trained):
    """plan_tiles spreads tiles evenly, so some start off the pooling grid: a few pixels
    there differ (another pooling phase), the mask hardly at all."""
    model, spec = trained["valid"]
    x, truth = _image(spec, 150, 190)
    plan = plan_tiles(model, 150, 190, tile=64, overlap=16)
    assert any(p % 2**spec.depth for p in plan.ys + plan.xs)  # the case this test is about
    whole = _whole(model, x)
    tiled = predict_tiled(model, x, CPU, tile=64, overlap=16)
    diff = np.abs(tiled - whole)
    assert diff.mean() < 1e-4 and diff.max() < 0.1  # measured: 1.8e-5 and 0.02
    assert ((tiled > 0.5) == (whole > 0.5)).mean() > 0.9995  # measured: 0.99996
    assert _iou(tiled, truth) > 0.9


def test_padded_net_blended_tiles_stay_close_to_the_whole_image(trained):
    """Zero padding at tile borders changes a padded net's output near them; the linear
    blend of overlapping tiles keeps that small (and smaller than tiles side by side)."""
    model, spec = trained["padded"]
    x, truth = _image(spec, 150, 190)
    whole = _whole(model, x)
    plan = plan_tiles(model, 150, 190, tile=64, overlap=16)
    assert (len(plan.ys), len(plan.xs)) == (3, 4)
    blended = np.abs(predict_tiled(model, x, CPU, tile=64, overlap=16) - whole)
    side_by_side = np.abs(predict_tiled(model, x, CPU, tile=64, overlap=0) - whole)
    assert blended.mean() < 4e-3 and blended.max() < 0.15  # measured: 1.6e-3 and 0.06
    assert blended.max() < side_by_side.max() / 2  # measured: 0.06 vs 0.37
    tiled = predict_tiled(model, x, CPU, tile=64, overlap=16)
    assert ((tiled > 0.5) == (whole > 0.5)).mean() > 0.999  # measured: 0.9996
    assert _iou(tiled, truth) > 0.9
