import numpy as np
import pytest
import torch

from segapp.ml.metrics import SegMetrics, iou, labels_from_logits


def _img(shape, *boxes):
    a = np.zeros(shape, dtype=np.uint8)
    for y0, y1, x0, x1, v in boxes:
        a[y0:y1, x0:x1] = v
    return a


def test_set_level_iou_differs_from_mean_image_iou():
    # image A: big object, target 100 px, prediction covers 50 of them -> IoU 0.5
    ta = _img((10, 10), (0, 10, 0, 10, 1))
    pa = _img((10, 10), (0, 5, 0, 10, 1))
    # image B: tiny object, 1 px target, prediction misses it entirely -> IoU 0
    tb = _img((10, 10), (0, 1, 0, 1, 1))
    pb = np.zeros((10, 10), np.uint8)
    m = SegMetrics(2)
    m.update(pa, ta)
    m.update(pb, tb)
    r = m.compute()
    # set level: intersections 50 + 0, unions 100 + 1
    assert r["iou"] == pytest.approx(50 / 101)
    assert r["dice"] == pytest.approx(2 * 50 / (150 + 1))
    assert r["mean_image_iou"] == pytest.approx((0.5 + 0.0) / 2)
    assert r["pixel_accuracy"] == pytest.approx((150 - 1) / 200)
    assert r["per_class_iou"][1] == pytest.approx(50 / 101)
    assert r["per_class_iou"][0] == pytest.approx(99 / 150)  # bg: 99 shared, 150 in union
    assert r["images"] == 2


def test_batch_update_equals_single_updates():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 3, (4, 16, 16))
    target = rng.integers(0, 3, (4, 16, 16))
    batch, single = SegMetrics(3), SegMetrics(3)
    batch.update(torch.from_numpy(pred), torch.from_numpy(target))
    for p, t in zip(pred, target, strict=True):
        single.update(p, t)
    assert batch.compute() == single.compute()
    assert np.array_equal(batch.confusion, single.confusion)


def test_empty_empty_image_counts_as_one():
    empty = np.zeros((8, 8), np.uint8)
    assert iou(empty, empty) == 1.0
    m = SegMetrics(2)
    m.update(empty, empty)
    ta = _img((8, 8), (0, 4, 0, 4, 1))
    m.update(ta, ta)  # perfect: 1.0
    m.update(np.zeros((8, 8), np.uint8), ta)  # missed: 0.0
    r = m.compute()
    assert r["mean_image_iou"] == pytest.approx(2 / 3)
    assert r["iou"] == pytest.approx(16 / 32)


def test_all_background_set_and_nothing_seen():
    m = SegMetrics(2)
    assert m.compute()["iou"] == 0.0 and m.compute()["images"] == 0
    m.update(np.zeros((2, 4, 4), np.int64), np.zeros((2, 4, 4), np.int64))
    r = m.compute()
    assert r["iou"] == 1.0 and r["mean_image_iou"] == 1.0 and r["pixel_accuracy"] == 1.0
    assert r["per_class_iou"] == [1.0, None]


def test_multiclass_hand_computed():
    # 1x6 strip; classes 0, 1, 2
    target = np.array([[0, 1, 1, 2, 2, 2]])
    pred = np.array([[0, 1, 2, 2, 2, 0]])
    r = SegMetrics(3)
    r.update(pred, target)
    out = r.compute()
    # class 1: inter 1, union 2 -> 0.5 ; class 2: inter 2, union 4 -> 0.5
    assert out["per_class_iou"] == pytest.approx([0.5, 0.5, 0.5])
    assert out["iou"] == pytest.approx(0.5)
    # dice: class 1: 2*1/(1+2)=2/3 ; class 2: 2*2/(3+3)=2/3
    assert out["dice"] == pytest.approx(2 / 3)
    assert out["pixel_accuracy"] == pytest.approx(4 / 6)
    assert out["mean_image_iou"] == pytest.approx(0.5)
    assert iou(pred, target, num_classes=3) == pytest.approx(0.5)


def test_multiclass_absent_class_is_left_out_of_the_mean():
    target = np.array([[0, 1, 1, 0]])
    pred = np.array([[0, 1, 0, 0]])
    out = SegMetrics(3)
    out.update(pred, target)
    r = out.compute()
    assert r["per_class_iou"][2] is None
    assert r["iou"] == pytest.approx(0.5)
    assert r["mean_image_iou"] == pytest.approx(0.5)


def test_binary_num_classes_one_is_read_as_two():
    m = SegMetrics(1)
    assert m.num_classes == 2
    m.update(np.array([[1, 0]]), np.array([[1, 1]]))
    assert m.compute()["iou"] == pytest.approx(0.5)


def test_bad_inputs():
    m = SegMetrics(2)
    with pytest.raises(ValueError, match="shape"):
        m.update(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="outside 0..1"):
        m.update(np.zeros((4, 4), np.uint8), np.full((4, 4), 7, np.uint8))


def test_ignore_pixels_count_in_no_score():
    target = np.array([[0, 1, 255, 255]])
    m = SegMetrics(2)
    m.update(np.array([[0, 1, 1, 0]]), target)  # right wherever the target is not ignored
    r = m.compute()
    assert r["iou"] == 1.0 and r["pixel_accuracy"] == 1.0 and m.confusion.sum() == 2
    m.update(np.array([[1, 1, 0, 0]]), target)
    assert m.compute()["per_class_iou"][1] == pytest.approx(2 / 3)


def test_labels_from_logits():
    binary = torch.tensor([[[[-3.0, 0.1], [2.0, -0.1]]]])  # (1, 1, 2, 2)
    labels = labels_from_logits(binary)
    assert labels.dtype == torch.int64 and labels.shape == (1, 2, 2)
    assert labels.tolist() == [[[0, 1], [1, 0]]]
    assert labels_from_logits(binary, threshold=0.9).tolist() == [[[0, 0], [0, 0]]]
    multi = torch.zeros(1, 3, 1, 3)
    multi[0, 0, 0, 0] = multi[0, 2, 0, 1] = multi[0, 1, 0, 2] = 5.0
    assert labels_from_logits(multi).tolist() == [[[0, 2, 1]]]
    assert labels_from_logits(multi[0]).tolist() == [[0, 2, 1]]  # (C, H, W)
