"""``segapp export onnx``: one file with dynamic height and width, the same logits as
PyTorch, runnable with onnxruntime alone (as the README shows)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from segapp.cli.main import main
from segapp.ml.checkpoint import save_checkpoint
from segapp.ml.registry import create_model, preset_spec


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    spec = preset_spec("unet-small", base_channels=4, classes=3)
    model = create_model(spec).eval()
    folder = tmp_path_factory.mktemp("onnx") / "v001"
    save_checkpoint(folder, model, spec, {"train": {"size": 64, "resize_mode": "crop"}})
    return folder, model


@pytest.fixture(scope="module")
def exported(checkpoint):
    """The checkpoint exported once with ``segapp export onnx``."""
    out = checkpoint[0].parent / "model.onnx"
    assert main(["export", "onnx", str(checkpoint[0]), str(out)]) == 0
    return out


def test_export_runs_without_segapp_at_any_size(checkpoint, exported):
    import onnxruntime as ort

    _, model = checkpoint
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["activation"] == "softmax" and meta["classes"] == "3"
    assert json.loads(meta["mean"]) == [0.5] * 3 and int(meta["size_multiple"]) == 8
    assert meta["resize_to"] == "0" and meta["keep_aspect"] == "0"  # crop mode: as it is
    rng = np.random.default_rng(1)
    for h, w in ((48, 80), (120, 32)):  # sizes the export never saw
        x = rng.normal(size=(1, 3, h, w)).astype(np.float32)
        got = session.run(None, {"x": x})[0]
        with torch.inference_mode():
            ref = model(torch.from_numpy(x)).numpy()
        assert got.shape == (1, 3, h, w)
        np.testing.assert_allclose(got, ref, atol=1e-4)


def test_export_refuses_to_overwrite_and_bad_models(checkpoint, tmp_path, capsys):
    folder, _ = checkpoint
    existing = tmp_path / "keep.onnx"
    existing.write_bytes(b"precious")
    assert main(["export", "onnx", str(folder), str(existing)]) == 2
    assert existing.read_bytes() == b"precious"
    assert main(["export", "onnx", str(tmp_path), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "exists; choose a new file name" in err and "not a checkpoint folder" in err
    assert "Traceback" not in err and not (tmp_path / "m.onnx").exists()


def _readme_snippet() -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("### Run the ONNX file without segapp", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_recipe_gives_segapps_mask(checkpoint, exported, tmp_path, monkeypatch):
    """The README's onnxruntime + Pillow code, run as written, on a crop-trained model."""
    import cv2

    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor

    folder, _ = checkpoint
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(exported, "model.onnx")
    image = cv2.GaussianBlur(
        np.random.default_rng(2).integers(0, 255, (75, 101, 3), np.uint8), (9, 9), 3
    )
    cv2.imwrite("photo.png", image[..., ::-1])
    exec(compile(_readme_snippet(), "README.md", "exec"), {})
    ours = Predictor(load_model(folder), "cpu", backend="torch").predict_labels(image)
    np.testing.assert_array_equal(cv2.imread("photo_mask.png", cv2.IMREAD_UNCHANGED), ours)


def test_the_readme_recipe_letterboxes_as_segapp_does(tmp_path, monkeypatch):
    """The README's code on a model trained letterboxed (resize mode, ``keep_aspect``):
    its probabilities are segapp's but for resampling, and unlike a squashed model's."""
    import cv2

    from segapp.ml.checkpoint import load_model
    from segapp.ml.infer import Predictor

    torch.manual_seed(0)
    spec = preset_spec("unet-small", base_channels=4, classes=3)
    folder = tmp_path / "v002"
    train = {"size": 64, "resize_mode": "resize", "keep_aspect": True}
    save_checkpoint(folder, create_model(spec).eval(), spec, {"train": train})
    monkeypatch.chdir(tmp_path)
    assert main(["export", "onnx", str(folder), "model.onnx"]) == 0
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (60, 150, 3), np.uint8), (15, 15), 6)
    cv2.imwrite("photo.png", image[..., ::-1])
    names: dict = {}
    exec(compile(_readme_snippet(), "README.md", "exec"), names)
    theirs = names["probs"]
    assert names["meta"]["mirror"] == "1"  # the mirrored pass is averaged in, as segapp does
    loaded = load_model(folder)
    ours = Predictor(loaded, "cpu", backend="torch").predict(image)
    squashed = Predictor(loaded, "cpu", backend="torch", keep_aspect=False).predict(image)
    assert theirs.shape == ours.shape == (3, 60, 150)
    assert np.abs(theirs - ours).mean() < np.abs(theirs - squashed).mean() / 3
    assert cv2.imread("photo_mask.png", cv2.IMREAD_UNCHANGED).shape == (60, 150)


def test_a_click_trained_model_exports_its_click_channels(tmp_path, capsys):
    import onnxruntime as ort

    torch.manual_seed(0)
    spec = preset_spec("unet-small", base_channels=4, click_channels=3)
    model = create_model(spec).eval()
    with torch.no_grad():  # clicks that matter, so the check below can see them
        for stem in (m for m in model.modules() if hasattr(m, "clicks")):
            stem.clicks.weight.normal_()
    folder = tmp_path / "v001"
    save_checkpoint(folder, model, spec, {"train": {"size": 64, "resize_mode": "resize"}})
    out = tmp_path / "clicks.onnx"
    assert main(["export", "onnx", str(folder), str(out)]) == 0
    assert "input x (N, 6, H, W) (the image's, then 3 click channels)" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["click_channels"] == "3"
    x = np.random.default_rng(0).normal(size=(1, 6, 64, 64)).astype(np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(None, {"x": x})[0], ref, atol=1e-4)
