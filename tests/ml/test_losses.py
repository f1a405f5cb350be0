import pytest
import torch

from segapp.ml.losses import DEFAULT_LOSS, LOSSES, make_loss

BIG = 20.0  # a confident logit


def _binary_case():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:6, 2:6] = 1
    good = (target.float() * 2 - 1).mul(BIG).unsqueeze(1)  # (2, 1, 8, 8)
    return target, good


def _multi_case(c=3):
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 1:4, 1:4] = 1
    target[:, 5:8, 4:8] = 2
    good = torch.nn.functional.one_hot(target, c).permute(0, 3, 1, 2).float() * BIG
    return target, good


def _weights(target):
    return torch.ones(target.shape, dtype=torch.float32)


@pytest.mark.parametrize("name", LOSSES)
def test_binary_perfect_is_zero_and_wrong_is_large(name):
    loss = make_loss(name, classes=1)
    target, good = _binary_case()
    w = _weights(target)
    assert loss(good, target, w).item() < 1e-3
    assert loss(-good, target, w).item() > 0.5


@pytest.mark.parametrize("name", LOSSES)
def test_multiclass_perfect_is_zero_and_wrong_is_large(name):
    loss = make_loss(name, classes=3)
    target, good = _multi_case()
    wrong = good.roll(1, dims=1)  # every pixel predicts the next class
    w = _weights(target)
    assert loss(good, target, w).item() < 1e-3
    assert loss(wrong, target, w).item() > 0.5


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("name", LOSSES)
def test_gradients_flow(name, classes):
    torch.manual_seed(0)
    logits = torch.randn(2, classes, 8, 8, requires_grad=True)
    target = torch.randint(0, max(classes, 2), (2, 8, 8))
    value = make_loss(name, classes)(logits, target, torch.rand(2, 8, 8) + 0.5)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_binary_bce_matches_torch_and_is_stable():
    logits = torch.tensor([[[[1000.0, -1000.0], [0.0, 3.0]]]])
    target = torch.tensor([[[0, 1], [1, 1]]])
    value = make_loss("bce", 1)(logits, target)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target.float())
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(expected.item())
    assert value.item() == pytest.approx((1000 + 1000 + 0.693147 + 0.048587) / 4, rel=1e-4)


def test_multiclass_bce_is_cross_entropy():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    value = make_loss("bce", 4)(logits, target)
    assert value.item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item())


def test_dice_value_hand_computed():
    # prediction p = 0.5 everywhere on 4 pixels, one foreground pixel:
    # dice = (2 * 0.5 + 1) / (2 + 1 + 1) = 0.5
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[1, 0], [0, 0]]])
    assert make_loss("dice", 1)(logits, target).item() == pytest.approx(0.5)
    # jaccard = (0.5 + 1) / (2 + 1 - 0.5 + 1) = 1.5 / 3.5
    assert make_loss("jaccard", 1)(logits, target).item() == pytest.approx(1 - 1.5 / 3.5)


def test_bce_dice_is_the_sum():
    torch.manual_seed(2)
    logits = torch.randn(2, 1, 6, 6)
    target = torch.randint(0, 2, (2, 6, 6))
    total = make_loss("bce-dice", 1)(logits, target)
    parts = make_loss("bce", 1)(logits, target) + make_loss("dice", 1)(logits, target)
    assert total.item() == pytest.approx(parts.item())
    assert DEFAULT_LOSS == "bce-dice"


def test_focal_down_weights_easy_pixels():
    target = torch.ones(1, 2, 2, dtype=torch.long)
    easy = torch.full((1, 1, 2, 2), 2.0)  # p = 0.88, right side
    bce = make_loss("bce", 1)(easy, target).item()
    focal = make_loss("focal", 1)(easy, target).item()
    assert 0 < focal < bce * 0.05


@pytest.mark.parametrize("classes", [1, 3])
def test_weighted_ce_uses_the_weights(classes):
    torch.manual_seed(3)
    logits = torch.randn(1, classes, 4, 4)
    target = torch.randint(0, max(classes, 2), (1, 4, 4))
    loss = make_loss("weighted-ce", classes)
    w = torch.ones(1, 4, 4)
    base = loss(logits, target, w)
    plain = make_loss("bce", classes)(logits, target)
    assert base.item() == pytest.approx(plain.item(), rel=1e-5)  # unit weights = plain CE
    w2 = w.clone()
    w2[0, 1, 2] = 2.0
    per_pixel = (
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits[:, 0], target.float(), reduction="none"
        )
        if classes == 1
        else torch.nn.functional.cross_entropy(logits, target, reduction="none")
    )
    expected = base.item() + per_pixel[0, 1, 2].item() / 16
    assert loss(logits, target, w2).item() == pytest.approx(expected, rel=1e-5)
    assert loss(logits, target, w * 2).item() == pytest.approx(2 * base.item(), rel=1e-5)


def test_weighted_ce_requires_weight_map():
    loss = make_loss("weighted-ce", 1)
    assert loss.needs_weight_map and not make_loss("dice", 1).needs_weight_map
    target, good = _binary_case()
    with pytest.raises(ValueError, match="weight map"):
        loss(good, target)
    with pytest.raises(ValueError, match="weight map"):
        loss(good, target, None)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as err:
        make_loss("hinge", 1)
    for name in LOSSES:
        assert name in str(err.value)
    assert make_loss("BCE_Dice", 1).name == "bce-dice"


def test_shape_errors():
    loss = make_loss("bce", 1)
    with pytest.raises(ValueError, match="logits"):
        loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="target"):
        loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 6, 6, dtype=torch.long))
    # (N, 1, H, W) target is accepted
    assert loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4, dtype=torch.long)).item() > 0


@pytest.mark.parametrize("name", LOSSES)
def test_half_precision_logits_give_float32_loss(name):
    target, good = _multi_case()
    value = make_loss(name, 3)(good.to(torch.bfloat16), target, _weights(target))
    assert value.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = make_loss(name, 3)(good, target, _weights(target))
    assert value.dtype == torch.float32 and value.item() < 1e-3


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("name", LOSSES)
def test_ignored_pixels_count_in_no_term(name, classes):
    """255 (VOC/labelme ``__ignore__``): the loss is that of the other pixels alone, and
    whatever the network says there gets no gradient."""
    torch.manual_seed(0)
    target = torch.randint(0, max(2, classes), (2, 6, 8))
    logits = torch.randn(2, classes, 6, 8, requires_grad=True)
    w = torch.rand(2, 6, 8) + 0.5
    ignored = target.clone()
    ignored[..., 5:] = 255  # the last three columns are not labelled
    loss = make_loss(name, classes)
    full = loss(logits, ignored, w)
    alone = loss(logits[..., :5], target[..., :5], w[..., :5])
    assert full.item() == pytest.approx(alone.item(), rel=1e-5)
    full.backward()
    assert logits.grad[..., 5:].abs().max().item() == 0.0


@pytest.mark.parametrize("classes", [1, 3])
def test_lovasz_term_matches_segmentation_models_pytorch(classes):
    """bce-lovasz = bce + the Lovasz hinge / Lovasz-softmax per image, as smp computes it."""
    from segmentation_models_pytorch.losses import LovaszLoss

    torch.manual_seed(0)
    logits = torch.randn(3, classes, 9, 7)
    target = torch.randint(0, max(2, classes), (3, 9, 7))
    ours = make_loss("bce-lovasz", classes)(logits, target) - make_loss("bce", classes)(
        logits, target
    )
    if classes == 1:
        theirs = LovaszLoss("binary", per_image=True)(logits, target[:, None].float())
    else:
        theirs = LovaszLoss("multiclass", per_image=True)(logits, target)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_lovasz_rewards_the_iou_of_a_small_object():
    """Per image: an image with a small object weighs as much as one with a large object, so
    a prediction that misses the small object scores a large loss though few pixels are off."""
    target = torch.zeros(2, 32, 32, dtype=torch.long)
    target[0, 4:28, 4:28] = 1  # large object
    target[1, 14:17, 14:17] = 1  # 9 pixels
    logits = (target.float() * 2 - 1).mul(BIG).unsqueeze(1)
    missed = logits.clone()
    missed[1, 0, 14:17, 14:17] = -BIG  # the small object missed: 9 of 2048 pixels wrong
    loss = make_loss("bce-lovasz", 1)
    lovasz_only = loss(missed, target) - make_loss("bce", 1)(missed, target)
    assert loss(logits, target).item() < 1e-3
    # image 1 loses its whole IoU at a hinge error of 1 + BIG per pixel; image 0 nothing
    assert lovasz_only.item() == pytest.approx((1 + BIG) / 2, rel=1e-4)
