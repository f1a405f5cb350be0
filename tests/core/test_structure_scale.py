"""How thick the things a mask separates are (what resizing a whole image keeps)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from segapp.core.structure_scale import SIDE, median_depth, sample, structure_depth


def _half(shape=(400, 600)) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[:, : shape[1] // 2] = 1  # an object over the left half
    return labels


def _grid(shape=(400, 600), period=40, width=3) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)  # membranes: thin lines between large cells
    for k in range(0, shape[0], period):
        labels[k : k + width] = 1
    for k in range(0, shape[1], period):
        labels[:, k : k + width] = 1
    return labels


def test_the_depth_is_the_thinner_sides_median_distance_to_the_other():
    half = structure_depth(_half())
    assert 140 <= half <= 155  # the median pixel of either 300 px wide side: 150 px from the other
    grid = structure_depth(_grid())
    assert grid <= 2  # the lines, not the cells between them
    inverted = structure_depth(1 - _grid())  # the same structure, the other class labelled
    assert inverted == grid


def test_one_sided_masks_have_no_depth_and_are_left_out():
    assert structure_depth(np.zeros((50, 60), np.uint8)) is None
    assert structure_depth(np.ones((50, 60), np.uint8)) is None
    assert median_depth([np.zeros((50, 60), np.uint8), _grid()]) == structure_depth(_grid())
    assert median_depth([]) is None


def test_a_large_mask_is_measured_at_a_reduced_scale_in_its_own_pixels():
    shape = (3 * SIDE, 4 * SIDE)
    big = structure_depth(_half(shape))
    assert abs(big - structure_depth(_half((750, 1000))) * 4 * SIDE / 1000) < 0.05 * big
    assert structure_depth(_grid(shape, period=160, width=12)) < 0.01 * big


def test_the_sample_stays_the_same_as_images_are_corrected():
    entries = [SimpleNamespace(stem=f"img{i:03d}") for i in range(100)]
    first = sample(entries[:50])
    assert len(first) == 8 and len(sample(entries[:5])) == 5
    later = sample(entries)  # 50 more corrected: most of the sample stays
    assert len(set(e.stem for e in first) & set(e.stem for e in later)) >= 4
    assert [e.stem for e in sample(list(reversed(entries)))] == [e.stem for e in later]
    read = {e.stem for e in sample(entries[:40])}  # one image corrected after another
    for n in range(41, 61):
        read |= {e.stem for e in sample(entries[:n])}
    assert len(read) <= 8 + 8  # a few masks more to read over 20 saves, not 8 each


def test_unread_masks_are_the_sample_not_yet_in_the_cache(tmp_path):
    """What ``project_depth`` would read: nothing once read, the one mask saved again; an
    unreadable mask is read once and left out, a missing one never counts."""
    import os

    from conftest import make_structure_dataset

    from segapp.core.project import Project
    from segapp.core.structure_scale import project_depth, unread

    project = Project.open(make_structure_dataset(tmp_path / "p", True, n=4))
    entries = list(project.entries)
    cache: dict = {}
    assert len(unread(entries, cache)) == 4
    depth = project_depth(project, entries, cache=cache)
    assert depth is not None and unread(entries, cache) == []
    resaved = entries[1].mask_path
    stat = resaved.stat()
    os.utime(resaved, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert unread(entries, cache) == [entries[1]]
    resaved.write_bytes(b"not a png")  # unreadable: left out, and not read again
    assert project_depth(project, entries, cache=cache) is not None
    assert unread(entries, cache) == []
    entries[2].mask_path.unlink()
    assert unread(entries, cache) == [] and project_depth(project, entries, cache=cache)
