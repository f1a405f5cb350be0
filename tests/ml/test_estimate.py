"""The Train panel's time estimate when no earlier version says how fast training runs."""

from __future__ import annotations

import itertools

from segapp.ml import estimate


def test_a_step_slowed_by_other_work_does_not_make_the_estimate(monkeypatch):
    """The timed steps were averaged, so one slowed by other work on the machine (the panel
    said "≈ 43 min" for a 2-minute round while another run trained) set the estimate; the
    fastest of the timed steps counts now."""
    ticks = itertools.chain([0.0, 0.25, 1.0, 9.0, 20.0, 20.25], itertools.repeat(30.0))
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: next(ticks))
    est = estimate.measure(
        "unet-small", 2, size=64, batch_size=2, n_train=8, n_val=0, device="cpu", max_side=64
    )
    assert est.images_per_second == 2 / 0.25  # batch of 2 in the fastest step, 64 px as timed
    assert est.seconds_per_epoch == 8 / est.images_per_second
