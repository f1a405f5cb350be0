import math

import numpy as np
import pytest
from scipy import ndimage

from segapp.ml.weightmap import border_radius, class_balance_weights, unet_weight_map


def _brute_force(labels, w0, sigma, class_balance=True):
    """Full-image reference: exact EDT to every object, two smallest per pixel."""
    objects, n = ndimage.label(labels > 0, structure=np.ones((3, 3)))
    if class_balance:
        values, counts = np.unique(labels, return_counts=True)
        wc = np.zeros(labels.shape)
        for v, c in zip(values, counts, strict=True):
            wc[labels == v] = labels.size / (len(values) * c) if len(values) > 1 else 1.0
    else:
        wc = np.ones(labels.shape)
    if n < 2:
        return wc
    dists = np.sort(
        np.stack([ndimage.distance_transform_edt(objects != i) for i in range(1, n + 1)]), axis=0
    )
    border = w0 * np.exp(-((dists[0] + dists[1]) ** 2) / (2 * sigma**2))
    return wc + np.where(labels == 0, border, 0.0)


def _two_squares(gap, shape=(40, 60)):
    labels = np.zeros(shape, np.uint8)
    mid = shape[1] // 2
    labels[10:30, mid - gap // 2 - 10 : mid - gap // 2] = 1
    labels[10:30, mid + (gap - gap // 2) : mid + (gap - gap // 2) + 10] = 1
    return labels


def test_high_between_close_objects_and_class_weight_far_away():
    labels = _two_squares(gap=2)
    w = unet_weight_map(labels, w0=10.0, sigma=5.0)
    wc = class_balance_weights(labels)
    assert w.dtype == np.float32 and w.shape == labels.shape
    # the 2-pixel gap (columns 29, 30) between the squares: at column 29, d1 = 1 and
    # d2 = 2 -> w0 * exp(-9 / 50) ~ 8.35 on top of the class weight
    assert labels[20, 28] == 1 and labels[20, 29] == labels[20, 30] == 0 and labels[20, 31] == 1
    assert w[20, 29] == pytest.approx(wc[20, 29] + 10 * np.exp(-9 / 50), rel=1e-5)
    assert w[20, 29] > 8 * w[0, 0]
    # far from both objects (image corner): only the class weight
    assert w[0, 0] == pytest.approx(wc[0, 0], abs=1e-4)
    # foreground pixels carry only the class weight
    fg = labels > 0
    assert np.allclose(w[fg], wc[fg])


def test_class_weights_inverse_frequency_mean_one():
    labels = np.zeros((10, 10), np.uint8)
    labels[:2] = 1  # 20 % foreground
    wc = class_balance_weights(labels)
    assert wc[0, 0] == pytest.approx(100 / (2 * 20))
    assert wc[5, 5] == pytest.approx(100 / (2 * 80))
    assert wc.mean() == pytest.approx(1.0)
    off = unet_weight_map(labels, class_balance=False)
    assert np.all(off == 1.0)  # a single object: no border term


def test_symmetric():
    labels = _two_squares(gap=4, shape=(40, 60))
    w = unet_weight_map(labels)
    assert np.allclose(w, w[:, ::-1], atol=1e-5)
    assert np.allclose(w, w[::-1, :], atol=1e-5)


def test_zero_and_one_object():
    empty = np.zeros((16, 16), np.uint8)
    assert np.all(unet_weight_map(empty) == 1.0)
    one = empty.copy()
    one[4:8, 4:8] = 1
    assert np.allclose(unet_weight_map(one), class_balance_weights(one))


@pytest.mark.parametrize("sigma", [2.0, 5.0])
def test_bounded_windows_equal_brute_force(sigma):
    rng = np.random.default_rng(0)
    labels = np.zeros((64, 80), np.uint8)
    for _ in range(9):  # scattered blobs of two classes, some far apart
        y, x = rng.integers(0, 60), rng.integers(0, 76)
        h, w = rng.integers(2, 9, size=2)
        labels[y : y + h, x : x + w] = rng.integers(1, 3)
    labels[0:3, 0:3] = 1  # in a corner, windows clipped by the border
    labels[60:64, 70:80] = 2
    fast = unet_weight_map(labels, w0=10.0, sigma=sigma)
    reference = _brute_force(labels, w0=10.0, sigma=sigma)
    assert np.abs(fast - reference).max() < 1e-4
    assert fast.max() > 3.0  # the border term is really there
    nobal = unet_weight_map(labels, w0=5.0, sigma=sigma, class_balance=False)
    assert np.abs(nobal - _brute_force(labels, 5.0, sigma, class_balance=False)).max() < 1e-4


def test_windows_are_bounded():
    assert border_radius(10.0, 5.0) < 35
    assert border_radius(0.0, 5.0) == 0
    with pytest.raises(ValueError):
        unet_weight_map(np.zeros((2, 2, 3)))


# A small mask drawn by hand (. background, a/b class 1, c class 2): object A is a 2x2
# square, B two pixels touching only at a corner (one object: 8-connected), C a bar of
# class 2. 108 pixels: 97 background, 6 of class 1, 5 of class 2.
KNOWN = """
............
.aa.........
.aa......c..
.........c..
.........c..
....b....c..
.....b...c..
............
............
"""


def _known_mask():
    rows = KNOWN.strip().splitlines()
    labels = np.array([[{".": 0, "a": 1, "b": 1, "c": 2}[ch] for ch in r] for r in rows], np.uint8)
    objects = [
        [(y, x) for y, r in enumerate(rows) for x, ch in enumerate(r) if ch == name]
        for name in "abc"
    ]
    return labels, objects


def _nearest_two(point, objects):
    """d1, d2 by brute force: the distance to each object is the smallest distance to any
    of its pixels (pixel centres), then the two smallest over the objects."""
    y, x = point
    d = sorted(min(math.hypot(y - oy, x - ox) for oy, ox in obj) for obj in objects)
    return d[0], d[1]


def test_known_mask_distances_by_hand():
    """The brute force agrees with distances worked out on paper."""
    _, objects = _known_mask()
    r = math.sqrt
    assert _nearest_two((3, 3), objects) == pytest.approx((r(2), r(5)))  # A (2,2), B (5,4)
    assert _nearest_two((4, 7), objects) == pytest.approx((2, r(8)))  # C (4,9), B (6,5)
    assert _nearest_two((0, 11), objects) == pytest.approx((r(8), r(72)))  # C (2,9), B (6,5)
    assert _nearest_two((5, 5), objects) == pytest.approx((1, 4))  # B (5,4) and (6,5); C


@pytest.mark.parametrize(("w0", "sigma", "balance"), [(10.0, 5.0, True), (5.0, 2.0, False)])
def test_paper_equation_on_a_known_mask(w0, sigma, balance):
    """w(x) = w_c(x) + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) on background pixels, w_c(x) on
    objects, every pixel checked against the equation evaluated by hand."""
    labels, objects = _known_mask()
    assert labels.shape == (9, 12) and np.bincount(labels.ravel()).tolist() == [97, 6, 5]
    # w_c: 108 pixels / (3 classes present x pixels of the class)
    wc = {0: 108 / (3 * 97), 1: 108 / (3 * 6), 2: 108 / (3 * 5)} if balance else {0: 1, 1: 1, 2: 1}
    w = unet_weight_map(labels, w0=w0, sigma=sigma, class_balance=balance)
    assert w.shape == labels.shape and w.dtype == np.float32
    for (y, x), value in np.ndenumerate(labels):
        expected = wc[int(value)]
        if value == 0:  # the border term: background pixels only
            d1, d2 = _nearest_two((y, x), objects)
            expected += w0 * math.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
        assert w[y, x] == pytest.approx(expected, rel=1e-5, abs=2e-6), (y, x)
    # one value spelled out: at (3, 3), d1 = sqrt(2) (to A), d2 = sqrt(5) (to B)
    border = w0 * math.exp(-((math.sqrt(2) + math.sqrt(5)) ** 2) / (2 * sigma**2))
    assert w[3, 3] == pytest.approx(wc[0] + border, rel=1e-5)
