"""Models that follow clicks: the click stem, the simulated clicks of training, the refine
path through a network and the engine's refine request."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import make_dataset, tiny_train_config
from qt_helpers import tiny_checkpoint

from segapp.core.clicks import Click
from segapp.ml.checkpoint import load_checkpoint, load_model
from segapp.ml.click_stem import ClickStem, click_parameters
from segapp.ml.click_training import perturbed, simulated_clicks, with_clicks
from segapp.ml.engine_server import Engine
from segapp.ml.finetune import freeze_early_layers, param_groups
from segapp.ml.interactive import CLICK_RADIUS, model_refine
from segapp.ml.registry import create_model, preset_spec
from segapp.ml.train import train


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("preset", ["unet-small", "pretrained-lite0"])
def test_the_click_stem_starts_as_the_network_it_extends(preset):
    torch.manual_seed(0)
    plain = create_model(preset_spec(preset)).eval()
    torch.manual_seed(0)
    spec = preset_spec(preset, click_channels=3)
    clicking = create_model(spec).eval()
    x = torch.randn(2, 3, 64, 64)
    clicks = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain(x), clicking(torch.cat([x, clicks], 1)))
    stems = [m for m in clicking.modules() if isinstance(m, ClickStem)]
    assert len(stems) == 1 and stems[0].clicks.weight.shape[1] == 3
    if spec.encoder_weights:  # the frozen ImageNet stem stays frozen, its twin learns fast
        assert freeze_early_layers(clicking, spec, 4) > 0
        assert not stems[0].image.weight.requires_grad
        assert all(p.requires_grad for p in click_parameters(clicking))
        encoder_group, decoder_group = param_groups(clicking, 1e-3, 0.1)
        ids = {id(p) for p in decoder_group["params"]}
        assert all(id(p) in ids for p in click_parameters(clicking))
        assert id(stems[0].clicks.weight) not in {id(p) for p in encoder_group["params"]}


def _two_squares() -> np.ndarray:
    truth = np.zeros((64, 96), bool)
    truth[10:30, 10:30] = True  # 20 px square
    truth[40:50, 60:70] = True  # 10 px square
    return truth


def test_simulated_clicks_fix_one_error_region_each():
    truth = _two_squares()
    clicks = simulated_clicks(truth, np.zeros_like(truth), np.zeros_like(truth), 3)
    # the deeper miss first, at its centre; then the smaller; then nothing is left
    assert len(clicks) == 2 and all(c.positive for c in clicks)
    assert 18 <= clicks[0].x <= 21 and 18 <= clicks[0].y <= 21
    assert 60 <= clicks[1].x < 70 and 40 <= clicks[1].y < 50
    wrong = truth.copy()
    wrong[0:8, 80:96] = True  # a false blob
    only = simulated_clicks(truth, wrong, np.zeros_like(truth), 1)
    assert only == [Click(only[0].x, only[0].y, False)] and only[0].x >= 80


def test_ignored_pixels_draw_no_clicks():
    truth = _two_squares()
    ignore = truth.copy()
    assert simulated_clicks(truth, np.zeros_like(truth), ignore, 3) == []


def test_perturbed_masks_vary_around_the_truth():
    truth = _two_squares()
    rng = np.random.default_rng(0)
    masks = [perturbed(truth, rng) for _ in range(40)]
    assert all(m.shape == truth.shape and m.dtype == bool for m in masks)
    assert any(not m.any() for m in masks)  # sometimes nothing yet
    assert any(m.any() and not np.array_equal(m, truth) for m in masks)
    assert not perturbed(np.zeros_like(truth), rng).any()


def test_with_clicks_fills_the_click_channels_of_a_share_of_the_batch():
    torch.manual_seed(0)
    model = create_model(preset_spec("unet-small", click_channels=3))
    truth = torch.from_numpy(_two_squares().astype(np.int64))
    x = torch.randn(4, 3, 64, 96)
    y = truth.expand(4, -1, -1).clone()
    rng = np.random.default_rng(0)
    none = with_clicks(model, x, y, 0.0, rng)
    assert none.shape == (4, 6, 64, 96) and not none[:, 3:].any()
    every = with_clicks(model, x, y, 1.0, rng)
    assert torch.equal(every[:, :3], x)  # the image channels untouched
    for view in every:
        assert view[4:].sum() > 0  # at least one click disk in each view


def test_a_round_with_clicks_saves_a_model_that_reads_them(tmp_path):
    data = make_dataset(tmp_path / "d", n=4, height=48, width=48)
    list(train(tiny_train_config(tmp_path, data, epochs=1, clicks=0.5)))
    assert load_checkpoint(tmp_path / "run").spec.click_channels == 3
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["clicks"] == 0.5
    # a proposal-only round, fine-tuned later with clicks, gains them
    list(train(tiny_train_config(tmp_path / "p", data, epochs=1, clicks=0.0)))
    plain = tmp_path / "p" / "run"
    assert load_checkpoint(plain).spec.click_channels == 0
    list(train(tiny_train_config(tmp_path / "f", data, epochs=1, model=str(plain), clicks=0.5)))
    assert load_checkpoint(tmp_path / "f" / "run").spec.click_channels == 3


class _Recorder:
    """A network stand-in that records its input and answers 'foreground' everywhere."""

    click_channels = 3

    def __init__(self, resize_to, keep_aspect=False):
        self.resize_to = resize_to
        self.keep_aspect = keep_aspect
        self.inputs = []

    def image_input(self, img):
        return np.zeros((3, *img.shape[:2]), np.float32)

    def run_input(self, x):
        self.inputs.append(x)
        return np.ones((1, *x.shape[1:]), np.float32)


def test_model_refine_draws_clicks_at_the_networks_scale():
    prev = np.zeros((200, 400), bool)
    prev[50:150, 100:200] = True
    net = _Recorder(resize_to=64)
    mask, (x, y, w, h) = model_refine(
        net, np.zeros((200, 400, 3), np.uint8), prev, [Click(150, 100, False)]
    )
    (inp,) = net.inputs
    assert inp.shape == (6, 64, 64) and mask.shape == (h, w) and mask.all()
    assert x <= 100 and x + w >= 200 and y <= 50 and y + h >= 150  # the region it touches
    cx, cy = (150 - x) * 64 / w, (100 - y) * 64 / h  # the click in the network's pixels
    negative = np.argwhere(inp[5] > 0)
    assert abs(negative[:, 1].mean() - cx) < 1 and abs(negative[:, 0].mean() - cy) < 1
    assert len(negative) <= np.pi * (CLICK_RADIUS + 1) ** 2
    assert not inp[4].any() and inp[3].any()  # no positive click; the previous mask


def test_model_refine_letterboxes_the_window_as_training_did():
    prev = np.zeros((200, 400), bool)
    prev[50:150, 100:300] = True
    net = _Recorder(resize_to=64, keep_aspect=True)
    mask, (x, y, w, h) = model_refine(
        net, np.zeros((200, 400, 3), np.uint8), prev, [Click(150, 100, False)]
    )
    (inp,) = net.inputs
    assert inp.shape == (6, 64, 64) and mask.shape == (h, w) and mask.all()
    scale = 64 / max(w, h)  # one scale both ways; the shorter side centred
    cx = (150 - x) * scale + (64 - round(w * scale)) // 2
    cy = (100 - y) * scale + (64 - round(h * scale)) // 2
    negative = np.argwhere(inp[5] > 0)
    assert abs(negative[:, 1].mean() - cx) < 1 and abs(negative[:, 0].mean() - cy) < 1
    # the previous mask keeps its shape: as wide against as tall as in the image
    rows, cols = np.nonzero(inp[3][(64 - round(h * scale)) // 2 :][: round(h * scale)])
    assert abs((np.ptp(cols) + 1) / (np.ptp(rows) + 1) - 2.0) < 0.15


def test_the_engine_refines_with_the_model_or_grabcut(tmp_path):
    folder = tiny_checkpoint(tmp_path / "m", click_channels=3)
    engine = Engine("cpu", backend="auto")
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), np.uint8)
    prev = np.zeros((70, 90), np.uint8)
    clicks = [Click(40, 30, True)]
    assert engine.refine(str(folder), 2, "a", None, prev, clicks) is None  # send the image
    mask, window, refiner = engine.refine(str(folder), 2, "a", image, prev, clicks)
    x, y, w, h = window
    assert refiner.kind == "model" and mask.shape == (h, w) and refiner.name == "m refines"
    assert x <= 40 < x + w and y <= 30 < y + h
    _, _, again = engine.refine(str(folder), 2, "a", None, prev, clicks)  # the image is kept
    assert again is refiner
    _, _, fallback = engine.refine("", 2, "a", None, prev, clicks)
    assert fallback.kind == "grabcut" and "no trained model" in fallback.name
    plain = tiny_checkpoint(tmp_path / "p")
    _, _, old = engine.refine(str(plain), 2, "a", None, prev, clicks)
    assert old.kind == "grabcut" and old.name == "GrabCut refines, guided by p"
    assert load_model(folder).spec.click_channels == 3
