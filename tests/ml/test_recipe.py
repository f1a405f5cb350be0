"""The training recipe: the step schedule from the image count, the time budget, the LR curve."""

from __future__ import annotations

import math

import pytest

from segapp.ml import recipe


def test_schedule_grows_with_the_images_and_derives_batch_and_repeats():
    few, some, many = (recipe.plan_schedule(n, accelerator=True) for n in (10, 40, 160))
    assert few.batch_size == 5 and some.batch_size == many.batch_size == recipe.DEFAULT_BATCH
    # every epoch shows at least MIN_EPOCH_SAMPLES images: small sets repeat
    assert few.repeats == 7 and few.steps_per_epoch == 70 // 5
    assert some.repeats == 2 and many.repeats == 1
    # at least MIN_SAMPLES views in all, SAMPLES_PER_IMAGE per image beyond
    assert few.samples == pytest.approx(recipe.MIN_SAMPLES, rel=0.15)
    assert many.samples == pytest.approx(160 * recipe.SAMPLES_PER_IMAGE, rel=0.05)
    assert few.total_steps < some.total_steps < many.total_steps
    assert recipe.plan_schedule(10_000).samples <= recipe.MAX_SAMPLES * 1.05


def test_on_a_cpu_batches_are_small_so_the_budget_holds_more_steps():
    """The 2-core CPU's 40-image rounds scored higher in batches of 2 than of 8 (four seeds
    of four): their time budget runs out of steps before it runs out of views."""
    for n in (4, 10, 40, 160):
        cpu, gpu = recipe.plan_schedule(n), recipe.plan_schedule(n, accelerator=True)
        assert cpu.batch_size == recipe.CPU_BATCH == 2
        assert cpu.samples == pytest.approx(gpu.samples, rel=0.15)  # the same views planned
        assert cpu.total_steps > gpu.total_steps or gpu.batch_size == 2
    assert recipe.plan_schedule(40, batch_size=8).batch_size == 8  # asked for: taken


def test_two_images_still_make_steps():
    s = recipe.plan_schedule(2)
    assert s.batch_size == 2 and s.steps_per_epoch >= 1 and s.total_steps >= 100


def test_explicit_values_win():
    s = recipe.plan_schedule(40, batch_size=4, epochs=3)
    assert (s.batch_size, s.epochs, s.repeats, s.steps_per_epoch) == (4, 3, 1, 10)
    s = recipe.plan_schedule(40, batch_size=8, steps=100)
    assert (s.epochs, s.steps_per_epoch) == (10, 10)
    # fewer steps than an epoch of the images holds: that many, not a whole epoch's 14
    assert recipe.plan_schedule(10, steps=1).total_steps == 1
    assert recipe.plan_schedule(10, steps=12).total_steps == 12
    assert recipe.plan_schedule(10, steps=30).total_steps == 30
    odd = recipe.plan_schedule(40, batch_size=8, steps=37)
    assert (odd.epochs, odd.steps_per_epoch) == (4, 9)  # equal epochs, the nearest total
    # the recipe's own plan: 10 images, 7 epochs of 14 steps of 5 on a GPU, of 35 of 2 on a CPU
    gpu, cpu = recipe.plan_schedule(10, accelerator=True), recipe.plan_schedule(10)
    assert (gpu.epochs, gpu.steps_per_epoch, cpu.epochs, cpu.steps_per_epoch) == (7, 14, 7, 35)
    with pytest.raises(ValueError):
        recipe.plan_schedule(0)


def test_loader_workers_only_on_a_gpu_and_leave_a_core_to_training():
    assert recipe.loader_workers(None, "cpu", 16) == 0  # its threads use the cores
    assert recipe.loader_workers(None, "mps", 16) == 0
    assert recipe.loader_workers(None, "cuda", 16) == recipe.GPU_LOADER_WORKERS
    assert recipe.loader_workers(None, "cuda", 3) == 2
    assert recipe.loader_workers(None, "cuda", 1) == 0
    assert recipe.loader_workers(None, "cuda", 16, ranks=8) == 1  # torchrun: a share each
    assert recipe.loader_workers(3, "cpu", 2) == 3  # --workers wins


def test_loader_workers_fit_in_shared_memory():
    """Each process holds up to two batches in /dev/shm: half of it is theirs."""
    batch = 8 * (3 * 320 * 320 * 4 + 320 * 320 * 8)  # 8 views at 320 px, their labels: 16 MB
    assert recipe.loader_workers(None, "cuda", 16, 1, batch, 64 * 2**20) == 1  # Docker's
    assert recipe.loader_workers(None, "cuda", 16, 1, batch, 32 * 2**20) == 0
    assert recipe.loader_workers(None, "cuda", 16, 1, batch, 150 * 10**6) == 2
    assert recipe.loader_workers(None, "cuda", 16, 1, batch, 2**30) == recipe.GPU_LOADER_WORKERS
    assert recipe.loader_workers(None, "cuda", 16, 1, batch, None) == recipe.GPU_LOADER_WORKERS
    assert recipe.loader_workers(2, "cuda", 16, 1, batch, 64 * 2**20) == 2  # asked for


def test_time_budget_defaults():
    assert recipe.default_time_budget(1) == recipe.default_time_budget(40) == 120
    assert recipe.default_time_budget(160) == 720
    assert recipe.default_time_budget(10_000) == 900


def test_steps_within_budget_cut_but_never_below_done():
    s = recipe.plan_schedule(10, epochs=20, repeats=7, accelerator=True)  # 20 epochs of 14 steps
    assert s.steps_per_epoch == 14
    # 1 s a step, no epoch overhead, 3 epochs (42 steps) and 35 s gone: 82 s fit 82 steps
    assert recipe.steps_within_budget(s, 42, 35.0, 1.0, 0.0, 120.0) == 42 + 82
    assert recipe.steps_within_budget(s, 42, 35.0, 1.0, 0.0, 20.0) == 42  # over already: stop
    assert recipe.steps_within_budget(s, 42, 35.0, 1.0, 0.0, 0) == 280  # 0 = no budget
    assert recipe.steps_within_budget(s, 1, 1.0, 0.01, 0.0, 1000.0) == 280  # never above it
    # FINISH_SECONDS stay for the last checkpoint, the exit and the promotion check
    assert recipe.FINISH_SECONDS == 3.0
    assert recipe.steps_within_budget(s, 42, 35.0, 1.0, 0.0, 80.0) == 42 + 42


def test_steps_within_budget_counts_each_epochs_end():
    """Each epoch's end (its validation and checkpoint) takes its time: whole epochs while
    they fit, then the steps of a last one that fit before its end."""
    s = recipe.plan_schedule(10, epochs=20, repeats=7, accelerator=True)  # 14 steps an epoch
    # at an epoch's end (28 steps): 14 steps + 6 s a further epoch, 20 s: one epoch of 14
    # steps (20 s) and nothing after it; 30 s: one more epoch, then 10 s - 6 s = 4 steps
    fit = recipe.steps_within_budget(s, 28, 0.0, 1.0, 6.0, 20.0, finish=0.0)
    assert fit == 28 + 14
    assert recipe.steps_within_budget(s, 28, 0.0, 1.0, 6.0, 30.0, finish=0.0) == 28 + 14 + 4
    # 5 steps into an epoch, its end is still to come: 9 more steps and 6 s, 15 s in all
    assert recipe.steps_within_budget(s, 33, 0.0, 1.0, 6.0, 15.0, finish=0.0) == 42
    assert recipe.steps_within_budget(s, 33, 0.0, 1.0, 6.0, 14.0, finish=0.0) == 33 + 8


def test_a_round_keeps_time_for_the_windows_check_of_the_new_version():
    """From MIN_VAL_IMAGES validation images on, the window scores both versions on them
    after the run (15 s for 32 images on the 2-core CPU), in a process started for it (3 s):
    the budget keeps that time too."""
    assert recipe.finish_seconds(0) == recipe.finish_seconds(9) == recipe.FINISH_SECONDS
    check = recipe.CHECK_START_SECONDS + 32 * recipe.CHECK_SECONDS_PER_IMAGE
    assert recipe.finish_seconds(32) == recipe.FINISH_SECONDS + check == 22.0
    s = recipe.plan_schedule(160, epochs=40, accelerator=True)  # 20 steps an epoch
    # 720 s budget, 505 s gone after 20 epochs, 1 s a step: 212 steps without the check, 193
    # with 32 images
    done = 20 * s.steps_per_epoch
    assert recipe.steps_within_budget(s, done, 505.0, 1.0, 0.0, 720.0) == done + 212
    finish = recipe.finish_seconds(32)
    assert recipe.steps_within_budget(s, done, 505.0, 1.0, 0.0, 720.0, finish) == done + 193


def test_a_schedule_cut_short_keeps_its_epochs_length():
    s = recipe.plan_schedule(40, accelerator=True)  # 24 epochs of 10 steps
    assert (s.epochs, s.steps_per_epoch, s.total_steps) == (24, 10, 240)
    cut = s.with_steps(34)
    assert (cut.epochs, cut.last_epoch_steps, cut.total_steps) == (4, 4, 34)
    assert [cut.steps_in_epoch(e) for e in (1, 3, 4)] == [10, 10, 4]
    assert "the last of 4" in cut.describe()
    assert s.with_steps(30) == s.with_epochs(3) and s.with_steps(30).last_epoch_steps is None
    assert s.with_steps(0).total_steps == 1


def test_lr_factor_warms_up_then_decays_to_the_floor():
    total, warm = 100, 5
    curve = [recipe.lr_factor(i, total, warm) for i in range(total)]
    assert curve[0] == pytest.approx(1 / warm) and curve[warm - 1] == pytest.approx(1.0)
    assert all(b <= a + 1e-12 for a, b in zip(curve[warm:], curve[warm + 1 :], strict=False))
    assert curve[-1] == pytest.approx(recipe.FINAL_LR_FRACTION, abs=0.01)
    assert recipe.lr_factor(10_000, total, warm) == pytest.approx(recipe.FINAL_LR_FRACTION)
    assert all(math.isfinite(v) and v > 0 for v in curve)


def test_validation_is_trusted_from_the_minimum_size():
    assert not recipe.validation_trusted(recipe.MIN_VAL_IMAGES - 1)
    assert recipe.validation_trusted(recipe.MIN_VAL_IMAGES)


def test_schedule_description_says_what_it_does():
    text = recipe.plan_schedule(10, accelerator=True).describe()
    assert "steps of 5 images" in text and "10 images" in text


def test_resize_mode_follows_the_images():
    assert recipe.choose_resize_mode([], 320) == "resize"
    photos = [(480, 640), (640, 480), (720, 1280), (275, 183)]
    assert recipe.choose_resize_mode(photos, 320) == "resize"
    assert recipe.choose_resize_mode([(4096, 4096)] * 3, 320) == "crop"
    # the median image decides: one huge scan among photos stays resize, and the reverse
    assert recipe.choose_resize_mode(photos + [(8192, 8192)], 320) == "resize"
    assert recipe.choose_resize_mode([(480, 640)] + [(4096, 5000)] * 2, 320) == "crop"
    # over CROP_FROM_SHRINK times the training size: 961 px at 320 crops, 960 resizes
    assert recipe.choose_resize_mode([(961, 2000)], 320) == "crop"
    assert recipe.choose_resize_mode([(960, 2000)], 320) == "resize"
    assert "crops at full resolution" in recipe.describe_resize_mode("crop", [(4096, 4096)], 320)
    assert "4096x4096" in recipe.describe_resize_mode("crop", [(4096, 4096)], 320)
    assert "whole" in recipe.describe_resize_mode("resize", photos, 320)


def test_large_images_whose_objects_survive_the_resize_are_resized_whole():
    photos = [(3000, 4000)] * 3  # 12 MP: over 3 x 320 px, crops by size alone
    assert recipe.choose_resize_mode(photos, 320) == "crop"
    # a portrait's person about 220 px deep at 4000 px: 17.6 px at 320, kept whole
    assert recipe.choose_resize_mode(photos, 320, depth=220.0) == "resize"
    # MIN_RESIZED_DEPTH px at the training size decides
    edge = recipe.MIN_RESIZED_DEPTH * 4000 / 320
    assert recipe.choose_resize_mode(photos, 320, depth=edge) == "resize"
    assert recipe.choose_resize_mode(photos, 320, depth=0.99 * edge) == "crop"
    # membranes 2 px deep in a 4096 px micrograph: crops
    assert recipe.choose_resize_mode([(4096, 4096)] * 3, 320, depth=2.0) == "crop"
    assert "stay whole" in recipe.describe_resize_mode("resize", photos, 320, by_masks=True)
    assert "stay whole" not in recipe.describe_resize_mode("resize", photos, 320)  # forced
    # only large images need the masks read, and not those over MAX_WHOLE_SIDE: they crop
    assert recipe.depth_decides(photos, 320) and not recipe.depth_decides([(512, 512)], 320)
    scans = [(recipe.MAX_WHOLE_SIDE, recipe.MAX_WHOLE_SIDE + 1)] * 3
    assert not recipe.depth_decides(scans, 320)
    assert recipe.choose_resize_mode(scans, 320, depth=1e6) == "crop"
    # small images resize whatever their masks are
    assert recipe.choose_resize_mode([(512, 512)], 320, depth=1.0) == "resize"


def test_distractors_fade_as_corrected_images_grow():
    assert recipe.distractor_share(0.3, 1) == recipe.distractor_share(0.3, 10) == 0.3
    assert recipe.distractor_share(0.3, 40) == pytest.approx(0.075)
    assert recipe.distractor_share(0.3, 160) == pytest.approx(0.01875)
    assert recipe.distractor_share(0.0, 5) == 0.0


def test_object_blur_fades_beyond_forty_training_images():
    assert recipe.object_blur_share(0.2, 1) == recipe.object_blur_share(0.2, 40) == 0.2
    assert recipe.object_blur_share(0.2, 80) == pytest.approx(0.1)
    assert recipe.object_blur_share(0.2, 160) == pytest.approx(0.05)
    assert recipe.object_blur_share(0.0, 5) == 0.0


def test_unlabeled_images_only_when_continuing_unless_set(monkeypatch):
    assert recipe.UNLABELED_IMAGES == 0  # off by default (README: it did not pay on the CPU)
    assert recipe.unlabeled_images(None, continuing=True) == 0
    monkeypatch.setattr(recipe, "UNLABELED_IMAGES", 40)
    assert recipe.unlabeled_images(None, continuing=False) == 0
    assert recipe.unlabeled_images(None, continuing=True) == 40
    assert recipe.unlabeled_images(0, continuing=True) == 0
    assert recipe.unlabeled_images(12, continuing=False) == 12


def test_unlabeled_used_only_in_resize_mode_and_for_half_a_batch():
    assert recipe.unlabeled_used(40, 8, "resize") == 40
    assert recipe.unlabeled_used(3, 8, "resize") == 0  # fewer than half a batch
    assert recipe.unlabeled_used(40, 8, "crop") == 0


def test_unlabeled_planned_caps_to_what_there_is_and_what_the_run_uses(monkeypatch):
    monkeypatch.setattr(recipe, "UNLABELED_IMAGES", 40)
    assert recipe.unlabeled_planned(None, True, 100, 8, "resize") == 40
    assert recipe.unlabeled_planned(None, True, 12, 8, "resize") == 12
    assert recipe.unlabeled_planned(None, False, 100, 8, "resize") == 0  # from a preset
    assert recipe.unlabeled_planned(None, True, 3, 8, "resize") == 0  # under half a batch
    assert recipe.unlabeled_planned(None, True, 100, 8, "crop") == 0
