"""What the Train panel says of the corrected images and of a run, as text."""

from __future__ import annotations

from segapp.core.project import ImageEntry
from segapp.ml import recipe

MIN_IMAGES = 2  # corrected images a run needs


def what_train_will_do(n_train: int, n_val: int, corrected: list[ImageEntry], running: bool) -> str:
    """The images the next run trains and validates on, or how many more it needs."""
    n = n_train + n_val
    if n < MIN_IMAGES:
        return (
            f"{n} corrected image(s): correct at least {MIN_IMAGES} masks "
            "(a proposal you fixed and saved counts) to train."
        )
    text = recipe.describe_split(n_train, n_val) + _unusable_note(corrected)
    return f"Next run: {text}" if running else text


def no_validation_note(val_images: int) -> str:
    """Why the validation plot is empty ("" when there are validation images)."""
    if val_images:
        return ""
    first = recipe.images_for_validation()
    return f"no validation images yet\n(kept apart from {first} corrected images on)"


def budget_note(status: str, fit: int, planned: int) -> str:
    """The run's status line, saying that the time budget cut its planned steps."""
    return f"{status.split(' · ')[0]} · the time budget fits {fit} of the {planned} steps planned"


def _unusable_note(entries: list[ImageEntry]) -> str:
    """What Train will leave out: the corrected images whose mask the window found unusable."""
    broken = [e.stem for e in entries if e.mask_error]
    if not broken:
        return ""
    named = ", ".join(broken[:3]) + (", …" if len(broken) > 3 else "")
    return (
        f" {len(broken)} of them ({named}) with a mask that cannot be used will be left out;"
        " open one to see why."
    )
