"""Proposals refined by GrabCut: who decides (the training images), where it is kept (the
checkpoint) and every path that proposes following it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import make_dataset, tiny_train_config
from qt_helpers import tiny_checkpoint

from segapp.ml import proposal_refine
from segapp.ml.checkpoint import load_model
from segapp.ml.engine_server import Engine
from segapp.ml.infer import Predictor
from segapp.ml.proposal_refine import decide, is_colour, method_of, proposal_labels, refine_of
from segapp.ml.train import train


def _objects(n=4, colour=True, fraction=0.2):
    rng = np.random.default_rng(0)
    images, masks = [], []
    for _ in range(n):
        grey = rng.integers(0, 255, (40, 50), np.uint8)
        image = (
            np.stack([grey, grey // 2, 255 - grey], axis=2) if colour else np.stack([grey] * 3, 2)
        )
        mask = np.zeros((40, 50), np.uint8)
        mask[: round(40 * fraction)] = 1
        images.append(image)
        masks.append(mask)
    return images, masks


def test_is_colour_tells_grey_in_three_channels_from_colour():
    images, _ = _objects()
    grey, _ = _objects(colour=False)
    assert is_colour(images[0]) and not is_colour(grey[0]) and not is_colour(grey[0][:, :, 0])


def test_auto_refines_binary_colour_photos_of_objects_and_nothing_else():
    images, masks = _objects()
    assert decide("auto", True, "resize", images, masks).method == "grabcut"
    grey, _ = _objects(colour=False)
    assert decide("auto", True, "resize", grey, masks).method == "none"  # micrographs
    _, stuff = _objects(fraction=0.8)  # labelled pixels cover most of each image
    assert decide("auto", True, "resize", images, stuff).method == "none"
    assert decide("auto", False, "resize", images, masks).method == "none"  # several classes
    assert decide("auto", True, "crop", images, masks).method == "none"  # tiles at full scale
    why = decide("auto", True, "resize", grey, masks).describe()
    assert "not refined" in why and "4 of 4 images are grey" in why


def test_a_setting_overrides_auto_and_a_wrong_one_is_refused():
    grey, masks = _objects(colour=False)
    assert decide("grabcut", True, "resize", grey, masks).method == "grabcut"
    images, _ = _objects()
    assert decide("none", True, "resize", images, masks).to_config() == {
        "refine": "none",
        "why": "set",
    }
    with pytest.raises(ValueError, match="refine must be one of"):
        decide("crf", True, "resize", images, masks)


def test_checkpoints_from_before_and_damaged_settings_are_not_refined(tmp_path):
    assert method_of({}) == "none" and method_of({"proposals": {"refine": "magic"}}) == "none"
    assert method_of({"proposals": {"refine": "grabcut"}}) == "grabcut"
    assert refine_of(tmp_path / "missing") == "none"


def test_proposal_labels_refines_binary_proposals_only():
    images, masks = _objects(n=1)
    prob = np.where(masks[0] > 0, 0.97, 0.02).astype(np.float32)
    prob[8:14] = 0.6  # background in doubt, above the threshold
    plain = proposal_labels(images[0], prob[None], 0.5, "none")
    assert plain.dtype == np.uint8 and np.array_equal(plain, (prob > 0.5).astype(np.uint8))
    refined = proposal_labels(images[0], prob[None], 0.5, "grabcut")
    assert refined.dtype == np.uint8 and refined.shape == plain.shape
    multi = np.stack([1 - prob, prob * 0.5, prob * 0.5])
    assert np.array_equal(proposal_labels(images[0], multi, 0.5, "grabcut"), multi.argmax(0))


def _set_refine(folder, method):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["proposals"] = {"refine": method, "why": "set"}
    path.write_text(json.dumps(config))


def test_training_decides_and_the_checkpoint_keeps_it(tmp_path):
    data = make_dataset(tmp_path / "d", n=6, height=40, width=48)  # colour discs on noise
    list(train(tiny_train_config(tmp_path, data, epochs=1)))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["proposals"]["refine"] == "grabcut"
    assert config["proposals"]["why"].startswith("auto: ")
    grey = make_dataset(tmp_path / "g", n=6, height=40, width=48, rgb=False)
    list(train(tiny_train_config(tmp_path, grey, epochs=1, out=str(tmp_path / "grey"))))
    assert refine_of(tmp_path / "grey") == "none"
    list(
        train(
            tiny_train_config(tmp_path, grey, epochs=1, out=str(tmp_path / "set"), refine="grabcut")
        )
    )
    assert refine_of(tmp_path / "set") == "grabcut"


def test_the_predictor_and_the_engine_refine_as_the_checkpoint_says(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    folder = tiny_checkpoint(tmp_path / "m", export=False)
    _set_refine(folder, "grabcut")
    image = np.random.default_rng(0).integers(0, 255, (70, 90, 3), np.uint8)
    predictor = Predictor(load_model(folder), "cpu", backend="torch")
    assert predictor.refine == "grabcut"
    probs = predictor.propose(image)  # with its closer look
    expected = proposal_labels(image, probs, 0.5, "grabcut")
    assert np.array_equal(predictor.predict_labels(image), expected)
    told = Predictor(load_model(folder), "cpu", backend="torch", refine="none")
    plain = told.predict(image)
    assert np.array_equal(told.propose(image), plain)  # not refined: no closer look
    assert np.array_equal(told.predict_labels(image), proposal_labels(image, plain, 0.5))
    labels, engine_probs = Engine("cpu", backend="torch").predict(str(folder), 2, image)
    assert np.array_equal(labels, proposal_labels(image, engine_probs, 0.5, "grabcut"))


def test_the_engine_without_torch_refines_too(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    folder = tiny_checkpoint(tmp_path / "m", foreground=0.2)  # exported: ONNX Runtime proposes
    _set_refine(folder, "grabcut")
    engine = Engine("cpu", backend="auto")
    image = np.random.default_rng(1).integers(0, 255, (70, 90, 3), np.uint8)
    labels, probs = engine.predict(str(folder), 2, image)
    model = next(iter(engine._models.values()))
    assert model.refine == "grabcut" and model.loaded is None  # no torch model built
    assert np.array_equal(labels, proposal_refine.proposal_labels(image, probs, 0.5, "grabcut"))


def test_every_path_that_proposes_takes_the_closer_look_of_a_whole_image_model(
    tmp_path, monkeypatch
):
    """The window's engine and the predictor look again at the object of a refining model
    trained on whole images; not for a model that is not refined."""
    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    folder = tiny_checkpoint(tmp_path / "m", foreground=0.2)
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["train"] = {**config.get("train", {}), "size": 32, "resize_mode": "resize"}
    path.write_text(json.dumps(config))
    _set_refine(folder, "grabcut")
    looks = []
    monkeypatch.setattr(
        proposal_refine, "closer_look", lambda predict, image, probs: looks.append(1) or probs
    )
    image = np.random.default_rng(2).integers(0, 255, (70, 90, 3), np.uint8)
    Engine("cpu", backend="auto").predict(str(folder), 2, image)
    assert len(looks) == 1
    predictor = Predictor(load_model(folder), "cpu", backend="torch")
    assert predictor.resize_to == 32
    predictor.predict_labels(image)
    assert len(looks) == 2
    _set_refine(folder, "none")
    Predictor(load_model(folder), "cpu", backend="torch").predict_labels(image)
    Engine("cpu", backend="auto").predict(str(folder), 2, image)
    assert len(looks) == 2


class _StubNet:
    """A predictor that proposes given probabilities (no click channels)."""

    click_channels = 0
    resize_to = None  # sees images at their own scale: no closer look

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.probs


def test_the_click_annotator_starts_from_the_proposal_as_the_window_finishes_it():
    """The simulated annotator of ``evaluate --clicks`` starts where a person would."""
    from segapp.core.clicks import Click
    from segapp.ml.interactive import Refiner

    images, masks = _objects(n=1)
    prob = np.where(masks[0] > 0, 0.97, 0.02).astype(np.float32)
    prob[8:14] = 0.6
    refined = Refiner(_StubNet(prob[None]), finish="grabcut").propose(images[0])
    assert np.array_equal(refined, proposal_labels(images[0], prob[None], 0.5, "grabcut") > 0)
    assert np.array_equal(Refiner(_StubNet(prob[None])).propose(images[0]), prob > 0.5)
    clicked = Refiner(_StubNet(prob[None]), finish="grabcut").refine(
        images[0], refined, [Click(25.0, 20.0, False)]
    )  # and it still redraws a mask from clicks
    assert clicked.shape == refined.shape and clicked.dtype == bool
    multi = np.stack([1 - prob, prob])  # two classes: not refined
    assert np.array_equal(Refiner(_StubNet(multi), finish="grabcut").propose(images[0]), prob > 0.5)


def test_the_first_click_after_a_proposal_starts_from_its_probabilities(tmp_path, monkeypatch):
    """The engine keeps the last proposal's probabilities: clicks on the same picture (sent
    again, as the window does) need no network pass; another picture gets its own."""
    from segapp.core.clicks import Click
    from segapp.ml.interactive import Refiner

    monkeypatch.setenv("SEGAPP_CACHE", str(tmp_path / "cache"))
    folder = tiny_checkpoint(tmp_path / "m", foreground=0.2)
    _set_refine(folder, "grabcut")
    engine = Engine("cpu", backend="auto")
    image = np.random.default_rng(3).integers(0, 255, (70, 90, 3), np.uint8)
    labels, probs = engine.predict(str(folder), 2, image)
    net = next(iter(engine._models.values())).predictor
    passes = []
    predict = net.predict
    monkeypatch.setattr(net, "predict", lambda im: passes.append(1) or predict(im))
    clicks = [Click(40.0, 30.0, True)]
    cv2.setRNGSeed(0)  # GrabCut's colour models start from OpenCV's random draw
    mask, window, _ = engine.refine(str(folder), 2, "a", image.copy(), labels, clicks)
    assert passes == []  # the proposal's probabilities, not a new pass
    reference = Refiner(net, finish="grabcut")
    reference.know(image, probs)
    cv2.setRNGSeed(0)
    expected, expected_window = reference.refine_window(image, labels > 0, clicks)
    assert window == expected_window and np.array_equal(mask, expected)
    other = image[::-1].copy()
    engine.refine(str(folder), 2, "b", other, labels, clicks)
    assert passes  # a picture it did not propose: the network looks at it
