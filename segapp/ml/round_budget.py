"""A round's time budget, kept step by step: how long its steps and its epochs' ends take
on this machine now, and so how many of the planned steps still fit
(``recipe.steps_within_budget``).

Planned again after every step, a round on a machine slower than expected (or one that
other work slows down) ends near its budget, with its learning rate decayed over the steps
it takes, instead of finishing an epoch that began too late; one on a faster machine uses
the budget to its last step, not to its last whole epoch.
"""

from __future__ import annotations

import statistics
import time

from segapp.ml import recipe

_now = time.perf_counter  # the clock (tests set their own)
STEP_WINDOW = 8  # a step's time: the median of the latest steps' (one slowed step says less)


class RoundBudget:
    """The clock of one round: ``budget`` seconds (0: none) from ``started_at`` (a
    ``time.perf_counter()`` reading), ``finish`` seconds of them kept for after the last
    epoch."""

    def __init__(
        self, budget: float, started_at: float, finish: float, val_share: float = 0.0
    ) -> None:
        self.budget, self.started_at, self.finish = budget, started_at, finish
        # before an epoch has ended: its validation, guessed as this many steps' time
        self.val_share = val_share
        self.epoch_started = self.last_step = _now()
        self.steps_this_epoch = 0
        self.step_times: list[float] = []
        self.overhead: float | None = None  # an epoch's time beyond its steps, once seen
        self.first_step = 0.0  # this epoch's first step: it waits for the loader too

    def epoch_begins(self) -> None:
        self.epoch_started = self.last_step = _now()
        self.steps_this_epoch = 0

    def step_done(self) -> None:
        now = _now()
        if self.steps_this_epoch:  # the first step of an epoch waits for its loader too
            self.step_times = [*self.step_times[-STEP_WINDOW + 1 :], now - self.last_step]
        else:
            self.first_step = now - self.last_step
        self.last_step = now
        self.steps_this_epoch += 1

    def epoch_done(self) -> None:
        """As the next epoch begins: what an epoch's end (validation, checkpoint) cost, and
        its first step's wait for the loader. The run's first wait is not counted: it also
        starts everything up once (loading processes, on a GPU its kernels: a first epoch of
        10-14 s on an H200, where a later epoch's first step waits a fraction of a second)."""
        now = _now()
        end = now - self.last_step
        step = self.step_seconds()
        wait = (
            max(0.0, self.first_step - step)
            if self.overhead is not None and self.steps_this_epoch  # not the run's first
            else 0.0
        )
        self.overhead = max(0.0, end + wait)

    def step_seconds(self) -> float:
        """A step's time (0 until two steps of one epoch have been timed)."""
        return statistics.median(self.step_times) if self.step_times else 0.0

    def steps_that_fit(self, plan: recipe.Schedule, steps_done: int) -> int:
        """How many of ``plan``'s steps the round can take in all (``steps_done`` at least)."""
        step = self.step_seconds()
        if self.budget <= 0 or step <= 0:
            return plan.total_steps
        overhead = self.overhead if self.overhead is not None else self.val_share * step
        elapsed = _now() - self.started_at
        return recipe.steps_within_budget(
            plan, steps_done, elapsed, step, overhead, self.budget, self.finish
        )
