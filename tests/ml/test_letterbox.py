"""Letterboxing whole images: proportions kept, margins mirrored, proposals cut back out."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segapp.ml.letterbox import fit_box, letterbox, unletterbox
from segapp.ml.tiling import keeps_aspect, mirrors, predict_resized, resize_target


@pytest.mark.parametrize(
    ("h", "w", "box"),
    [(480, 640, (40, 0, 240, 320)), (640, 480, (0, 40, 320, 240)), (100, 100, (0, 0, 320, 320))],
)
def test_the_longer_side_fills_the_square_centred(h, w, box):
    b = fit_box(h, w, 320)
    assert (b.top, b.left, b.height, b.width) == box and b.scale == 320 / max(h, w)


def test_an_object_keeps_its_shape_and_the_margins_mirror_the_image():
    image = np.zeros((60, 120, 3), np.uint8)
    image[20:40, 50:70] = 255  # a square object in a wide image
    image[:, :5] = 90
    square, box = letterbox(image, 32, cv2.INTER_NEAREST)
    assert square.shape == (32, 32, 3) and (box.top, box.height, box.width) == (8, 16, 32)
    rows, cols = np.nonzero(square[box.top : box.top + box.height, :, 0] == 255)
    assert np.ptp(rows) == np.ptp(cols)  # still square (squashing would make it 2:1 tall)
    # the margins above and below mirror the image's rows next to them
    assert (square[box.top - 1] == square[box.top + 1]).all()
    assert (square[box.top + box.height] == square[box.top + box.height - 2]).all()


def test_single_channel_and_extreme_proportions():
    gray = np.arange(4 * 200, dtype=np.uint8).reshape(4, 200, 1)
    square, box = letterbox(gray, 32, cv2.INTER_AREA)
    assert square.shape == (32, 32, 1) and box.height == 1  # margins 30x the image
    labels, _ = letterbox(gray[:, :, 0] % 2, 32, cv2.INTER_NEAREST)
    assert labels.shape == (32, 32) and set(np.unique(labels)) <= {0, 1}


def test_a_proposal_is_cut_back_out_at_the_image_size():
    h, w = 90, 150
    ramp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    square, box = letterbox(ramp, 64, cv2.INTER_LINEAR)
    back = unletterbox(square[None], box, h, w)
    assert back.shape == (1, h, w) and np.abs(back[0] - ramp).max() < 0.05


def test_predict_resized_letterboxes_when_the_model_was_trained_so():
    """A stand-in network that answers its input's brightness: letterboxed, the answer
    lies where the image does; squashed, the image fills the square."""
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = 255  # right half bright
    seen = []

    def run(x):
        seen.append(x.shape)
        return x[:1] / 255.0

    to_input = lambda img: img.transpose(2, 0, 1).astype(np.float32)  # noqa: E731
    fit = predict_resized(image, 64, to_input, run, keep_aspect=True)
    squash = predict_resized(image, 64, to_input, run)
    assert seen == [(3, 64, 64), (3, 64, 64)]
    for probs in (fit, squash):
        assert probs.shape == (1, 100, 200)
        assert probs[0, :, :95].max() < 0.05 and probs[0, :, 105:].min() > 0.95


def test_mirror_averages_the_pass_over_the_mirrored_input():
    """A stand-in network that sees only the left edge: alone its answer is lopsided; with
    the mirrored pass averaged in (flipped back) it is the same at both edges."""
    image = np.full((50, 80, 3), 128, np.uint8)
    seen = []

    def run(x):
        seen.append(x[0, 0, :2].copy())
        out = np.zeros((1, *x.shape[1:]), np.float32)
        out[0, :, :10] = 1.0  # "the object is at the left edge"
        return out

    to_input = lambda img: img.transpose(2, 0, 1).astype(np.float32)  # noqa: E731
    one = predict_resized(image, 40, to_input, run)
    both = predict_resized(image, 40, to_input, run, mirror=True)
    assert len(seen) == 3  # one pass, then two
    assert one[0, :, :15].min() > 0.9 and one[0, :, -15:].max() < 0.1
    np.testing.assert_allclose(both, both[:, :, ::-1], atol=1e-6)
    assert abs(both[0, 25, 5] - 0.5) < 0.05  # each pass saw the object at another edge
    assert predict_resized(image, None, to_input, run, mirror=True).shape == (1, 50, 80)
    assert len(seen) == 4  # crop mode (no resize): one pass at the image's size


def test_which_checkpoints_mirror_their_proposals():
    assert mirrors({"resize_mode": "resize", "size": 64, "augment": "medium"})
    assert mirrors({"resize_mode": "resize", "size": 64})  # trained before the key: medium
    assert not mirrors({"resize_mode": "resize", "size": 64, "augment": "none"})  # no flips
    assert not mirrors({"resize_mode": "crop", "size": 64, "augment": "medium"})


def test_which_checkpoints_keep_aspect():
    assert keeps_aspect({"resize_mode": "resize", "size": 64, "keep_aspect": True})
    assert not keeps_aspect({"resize_mode": "resize", "size": 64})  # trained before: squash
    assert not keeps_aspect({"resize_mode": "crop", "size": 64, "keep_aspect": True})
    assert resize_target({"resize_mode": "crop", "size": 64}) is None


def test_a_round_letterboxes_its_images_and_its_proposals_follow(tmp_path):
    """A resize-mode round on wide images with ``keep_aspect``: the pairs are letterboxed
    (discs stay round), the checkpoint says so, and its Predictor letterboxes proposals;
    without it they are squashed."""
    from conftest import make_dataset, tiny_train_config

    from segapp.core.project import Project
    from segapp.ml.checkpoint import load_model
    from segapp.ml.data import load_pairs
    from segapp.ml.infer import Predictor
    from segapp.ml.train import train

    data = make_dataset(tmp_path / "data", n=4, height=40, width=80)
    project = Project.open(data)
    for keep, disc_ratio in ((True, 1.0), (False, 0.5)):
        (pair, *_) = load_pairs(project, project.entries, 3, 32, "resize", keep_aspect=keep)
        assert pair.image.shape == (32, 32, 3) and pair.labels.shape == (32, 32)
        labels = pair.labels[8:24] if keep else pair.labels  # the image's rows
        n, comp, stats, _ = cv2.connectedComponentsWithStats((labels > 0).astype(np.uint8))
        w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
        big = np.argmax(w * h)
        assert abs(w[big] / h[big] - disc_ratio) < 0.3
    cfg = tiny_train_config(
        tmp_path, data, epochs=1, resize_mode="resize", copy_paste=0.0, keep_aspect=True
    )
    list(train(cfg))
    predictor = Predictor(load_model(tmp_path / "run", "cpu"), "cpu")
    assert predictor.resize_to == 32 and predictor.keep_aspect and predictor.mirror
    assert predictor.predict(np.zeros((40, 80, 3), np.uint8)).shape == (1, 40, 80)


def test_square_images_are_resized_exactly_as_before():
    """EM slices and other square images train and propose as they did (no margins)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (512, 512), np.uint8)
    square, box = letterbox(image, 320, cv2.INTER_AREA)
    assert (box.top, box.left, box.height, box.width) == (0, 0, 320, 320)
    np.testing.assert_array_equal(
        square, cv2.resize(image, (320, 320), interpolation=cv2.INTER_AREA)
    )
