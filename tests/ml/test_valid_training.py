"""Valid-convolution networks (``unet-paper``) train on every label pixel: the view is
mirror-padded so that the output covers it, as overlap-tile inference pads an image, and
the tile a training view makes is the tile inference runs (PyTorch and ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_blob_pair, make_dataset, tiny_train_config

from segapp.core.project import IGNORE_INDEX
from segapp.ml.checkpoint import load_checkpoint, save_checkpoint
from segapp.ml.data import Pair, SegDataset
from segapp.ml.infer import Predictor
from segapp.ml.losses import make_loss
from segapp.ml.onnx_predictor import PROBABILITY_TOLERANCE
from segapp.ml.registry import create_model, preset_spec
from segapp.ml.tiling import train_tile

SIZE = 40


def _paper_net(depth: int = 2):
    torch.manual_seed(0)
    spec = preset_spec("unet-paper", depth=depth, base_channels=4, dropout=0.0)
    return spec, create_model(spec).eval()


def _pair(size: int = SIZE, seed: int = 0) -> Pair:
    image, mask = make_blob_pair(np.random.default_rng(seed), size, size)
    return Pair("a", image, (mask > 0).astype(np.uint8))


def _dataset(pair, spec, tile, resize_mode="resize", **kw) -> SegDataset:
    kw = {"augment": "none", "resize_mode": resize_mode, "train": True, "size": tile.size} | kw
    return SegDataset([pair], spec, tile.input, tile.output, **kw)


def test_the_output_covers_the_whole_view():
    spec, model = _paper_net(depth=3)
    tile = train_tile(model, SIZE)
    old_output = model.output_size(model.valid_input_size(SIZE))  # before: the centre only
    assert tile.size == SIZE and tile.output >= SIZE > old_output
    assert tile.margin > 0 and model.output_size(tile.input) == tile.output
    pair = _pair()
    x, y, _ = _dataset(pair, spec, tile)[0]
    assert x.shape == (3, tile.input, tile.input) and y.shape == (tile.output, tile.output)
    assert torch.equal(y[:SIZE, :SIZE], torch.from_numpy(pair.labels.astype(np.int64)))
    assert (y[SIZE:] == IGNORE_INDEX).all() and (y[:, SIZE:] == IGNORE_INDEX).all()
    m = tile.margin  # the margin mirrors the view, edge pixel repeated (as tile_predict)
    assert torch.equal(x[:, m - 1], x[:, m]) and torch.equal(x[:, :, m - 1], x[:, :, m])


@pytest.mark.parametrize("loss", ["bce-dice", "weighted-ce"])
def test_every_label_pixel_contributes_to_the_loss(loss):
    spec, model = _paper_net()
    tile = train_tile(model, SIZE)
    pair = _pair()
    x, y, w = _dataset(pair, spec, tile, weight_map=loss == "weighted-ce")[0]
    logits = model(x[None]).detach().requires_grad_(True)
    weights = (w if w.numel() else torch.ones(y.shape))[None].clone().requires_grad_(True)
    value = make_loss(loss, 1)(logits, y[None], weights)
    value.backward()
    value = float(value.detach())
    grad = logits.grad[0, 0]
    inside = grad[:SIZE, :SIZE]
    assert (inside != 0).all(), f"{int((inside == 0).sum())} label pixels do not count"
    assert (grad[SIZE:] == 0).all() and (grad[:, SIZE:] == 0).all()  # beyond the view: none
    if loss == "weighted-ce":  # d loss / d w(x) > 0: each pixel's own weight counts
        assert (weights.grad[0, :SIZE, :SIZE] > 0).all()
    for r, c in [(0, 0), (0, SIZE - 1), (SIZE - 1, 0), (SIZE - 1, SIZE - 1)]:  # the corners
        flipped = y.clone()
        flipped[r, c] = 1 - flipped[r, c]
        changed = make_loss(loss, 1)(logits.detach(), flipped[None], weights.detach())
        assert float(changed) != pytest.approx(value, abs=0, rel=1e-7)


def test_crops_reach_the_image_border():
    """Crop mode: the image is mirror-padded before the crop, so an image the size of the
    output is supervised whole (before, its outer margin never was)."""
    spec, model = _paper_net()
    tile = train_tile(model, SIZE)
    pair = _pair(tile.output)
    for train in (True, False):
        x, y, _ = _dataset(pair, spec, tile, "crop", train=train)[0]
        assert x.shape[1:] == (tile.input, tile.input)
        assert torch.equal(y, torch.from_numpy(pair.labels.astype(np.int64)))
    big = _pair(3 * tile.output, seed=1)  # random crops: supervised pixels only, no ignore
    ds = _dataset(big, spec, tile, "crop")
    torch.manual_seed(0)
    for _ in range(5):
        _, y, _ = ds[0]
        assert y.shape == (tile.output, tile.output) and (y != IGNORE_INDEX).all()


def _resize_checkpoint(tmp_path, size: int = SIZE):
    spec, model = _paper_net()
    train = {"size": size, "resize_mode": "resize"}
    return save_checkpoint(tmp_path / "paper", model, spec, {"train": train})


def _spy_tiles(monkeypatch, module: str) -> list[np.ndarray]:
    """The tiles the network gets from ``module``'s tile_predict (PyTorch's or ONNX's)."""
    from segapp.ml import tiling

    seen: list[np.ndarray] = []

    def spy(run, *args, **kwargs):
        return tiling.tile_predict(lambda t: seen.append(t.copy()) or run(t), *args, **kwargs)

    monkeypatch.setattr(module, spy)
    return seen


def test_inference_runs_the_tile_training_saw(tmp_path, monkeypatch):
    """A resize-mode checkpoint: the tile PyTorch and ONNX Runtime run on an image is the
    input its training view was (then its mirror: the mirrored pass), and their
    probabilities agree."""
    from segapp.ml import onnx_predictor
    from segapp.ml.onnx_backend import export_checkpoint

    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    spec, model = _paper_net()
    folder = save_checkpoint(
        tmp_path / "paper", model, spec, {"train": {"size": SIZE, "resize_mode": "resize"}}
    )
    loaded = load_checkpoint(folder)
    tile = train_tile(loaded.model, SIZE)
    pair = _pair()
    x, _, _ = _dataset(pair, loaded.spec, tile, train=False)[0]

    torch_tiles = _spy_tiles(monkeypatch, "segapp.ml.infer.tile_predict")
    torch_pred = Predictor(loaded, "cpu", backend="torch")
    ref = torch_pred.predict(pair.image)
    assert len(torch_tiles) == 2 and torch_tiles[0].shape == (1, 3, tile.input, tile.input)
    np.testing.assert_array_equal(torch_tiles[0][0], x.numpy())
    np.testing.assert_array_equal(torch_tiles[1][0], x.numpy()[..., ::-1])

    path = export_checkpoint(folder)
    onnx_tiles = _spy_tiles(monkeypatch, "segapp.ml.onnx_predictor._tile_predict")
    train = {"size": SIZE, "resize_mode": "resize"}
    onnx = onnx_predictor.for_checkpoint(path, onnx_predictor.read_meta(path), train)
    np.testing.assert_allclose(onnx.predict(pair.image), ref, atol=PROBABILITY_TOLERANCE)
    np.testing.assert_array_equal(onnx_tiles[0][0], x.numpy())
    np.testing.assert_array_equal(onnx_tiles[1][0], x.numpy()[..., ::-1])
    other = np.random.default_rng(1).integers(0, 255, (57, 35, 3), np.uint8)  # squashed to 40
    np.testing.assert_allclose(
        onnx.predict(other), torch_pred.predict(other), atol=PROBABILITY_TOLERANCE
    )


def test_a_paper_net_trains_in_resize_mode(tmp_path):
    data = make_dataset(tmp_path / "d", n=8, height=48, width=48, masks=6)
    cfg = tiny_train_config(
        tmp_path,
        data,
        model="unet-paper",
        size=SIZE,
        resize_mode="resize",
        epochs=1,
        batch_size=2,
        val_images=["0", "1"],  # validation runs through the padded views too
        unlabeled=2,  # and the unlabeled views are padded as the labelled ones
    )
    import segapp.ml.checkpoint as ck
    from segapp.ml.train import train

    real = ck.load_model

    def small(ref, *a, **kw):
        return real(ref, *a, depth=2, base_channels=4, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("segapp.ml.train_setup.load_model", small)
        metrics = list(train(cfg))
    assert np.isfinite(metrics[0].train_loss) and np.isfinite(metrics[0].val_iou)
    loaded = load_checkpoint(tmp_path / "run")
    assert loaded.spec.padding == "valid" and loaded.train_config["resize_mode"] == "resize"
    probs = Predictor(loaded, "cpu", backend="torch").predict(np.zeros((48, 48, 3), np.uint8))
    assert probs.shape == (1, 48, 48)
