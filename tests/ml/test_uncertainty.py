"""How unsure a version is of an image: the weights of "Suggest next image"."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_dataset
from qt_helpers import tiny_checkpoint

from segapp.core.project import Project
from segapp.ml import uncertainty

pytestmark = pytest.mark.torch_backend  # the suggestion scores with PyTorch


def test_uncertainty_is_one_minus_the_margin_of_the_decision():
    binary = np.array([[[0.5, 0.0], [1.0, 0.75]]], np.float32)  # (1, H, W) foreground
    assert uncertainty.image_uncertainty(binary) == pytest.approx((1 + 0 + 0 + 0.5) / 4)
    three = np.zeros((3, 1, 2), np.float32)
    three[:, 0, 0] = (0.4, 0.4, 0.2)  # a tie between the top two: fully unsure
    three[:, 0, 1] = (0.1, 0.7, 0.2)  # margin 0.5
    assert uncertainty.image_uncertainty(three) == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize(("logit", "expected"), [(0.0, 1.0), (12.0, uncertainty.FLOOR)])
def test_a_version_scores_each_readable_image(tmp_path, logit, expected):
    """A network undecided everywhere (logit 0: p = 0.5 +- 0.01) is fully unsure; one sure of every
    pixel still weighs the floor. An unreadable image gets no weight; progress is reported."""
    project = Project.open(make_dataset(tmp_path / "d", n=4, height=24, width=32))
    (project.images_dir / "3.png").write_bytes(b"not a png")
    model = tiny_checkpoint(tmp_path / "v001", foreground=logit, export=False)
    seen = []
    found = uncertainty.score_images(
        project, model, ["0", "1", "3"], "cpu", lambda i, n: seen.append((i, n))
    )
    assert set(found) == {"0", "1"}
    assert all(v == pytest.approx(expected, abs=0.02) for v in found.values())
    assert logit == 0 or set(found.values()) == {uncertainty.FLOOR}
    assert seen == [(1, 3), (2, 3)]
    stopped = uncertainty.score_images(project, model, ["0", "1"], "cpu", cancelled=lambda: True)
    assert stopped == {}
