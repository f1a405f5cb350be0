"""The time budget planned again after every step (segapp.ml.round_budget), on a fake clock."""

from __future__ import annotations

import pytest

from segapp.ml import recipe, round_budget
from segapp.ml.round_budget import RoundBudget


@pytest.fixture
def clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(round_budget, "_now", lambda: now[0])
    return now


def _steps(budget: RoundBudget, clock: list[float], seconds: list[float]) -> None:
    for s in seconds:
        clock[0] += s
        budget.step_done()


def test_the_steps_that_fit_follow_the_steps_time_and_the_epochs_end(clock):
    plan = recipe.plan_schedule(40, accelerator=True)  # 24 epochs of 10 steps
    clock[0] = 5.0  # loading took 5 s
    b = RoundBudget(60.0, 0.0, finish=3.0)
    b.epoch_begins()
    _steps(b, clock, [4.0])  # the first step waits for the loader: not a step's time
    assert b.step_seconds() == 0 and b.steps_that_fit(plan, 1) == 240  # nothing known yet
    _steps(b, clock, [2.0, 2.0])
    # 13 s gone, 2 s a step: 44 s left, 7 steps end this epoch, 10 the next, 5 of a third
    assert b.steps_that_fit(plan, 3) == 25
    _steps(b, clock, [2.0] * 7)
    clock[0] += 3.0  # validation and checkpoint
    b.epoch_done()
    # the end's 3 s; the first step's 2 s over a step were the run starting up, once
    assert b.overhead == pytest.approx(3.0)
    # 27 s left: one more epoch of 20 s and its 3 s end, and no step of a third
    assert b.steps_that_fit(plan, 10) == 20
    b.epoch_begins()
    _steps(b, clock, [2.5] + [2.0] * 9)  # from now on a first step's wait recurs
    clock[0] += 3.0
    b.epoch_done()
    assert b.overhead == pytest.approx(3.5)


def test_a_slow_start_on_a_gpu_does_not_cut_the_plan(clock):
    """On an H200 the first epoch of a 40-image round took 14.4 s (loading processes and
    kernels starting up), the others 0.6 s: the budget cut the plan to 7 epochs of 24 for
    one epoch (the learning rate decayed for 70 steps), then gave them back."""
    plan = recipe.plan_schedule(40, accelerator=True)  # 24 epochs of 10 steps
    b = RoundBudget(120.0, 0.0, finish=3.0)
    clock[0] = 19.0  # loading
    b.epoch_begins()
    _steps(b, clock, [13.95] + [0.05] * 9)
    b.epoch_done()
    assert b.steps_that_fit(plan, 10) == plan.total_steps


def test_a_slowed_machine_ends_the_round_near_its_budget(clock):
    """Walk-through 9: one epoch took 165 s on a loaded machine against a 120 s budget,
    because the budget cut only between epochs."""
    plan = recipe.plan_schedule(40, accelerator=True)
    b = RoundBudget(120.0, 0.0, finish=3.0)
    b.epoch_begins()
    _steps(b, clock, [10.0] + [16.5] * 5)  # 92.5 s gone
    assert b.step_seconds() == 16.5
    assert b.steps_that_fit(plan, 6) == 7  # one more step fits, then the epoch's end
    _steps(b, clock, [5.0] * 8)  # the other work stops: a step takes 5 s again
    # the median of the latest eight steps follows the machine
    assert b.step_seconds() == 5.0


def test_no_budget_takes_the_whole_plan(clock):
    plan = recipe.plan_schedule(40, accelerator=True)
    b = RoundBudget(0.0, 0.0, finish=3.0)
    _steps(b, clock, [100.0] * 3)
    assert b.steps_that_fit(plan, 3) == plan.total_steps


def test_a_cut_warm_up_never_takes_over_half_the_steps():
    assert recipe.warmup_within(12, 240) == 12
    assert recipe.warmup_within(12, 20) == 10
    assert recipe.warmup_within(12, 1) == 1
