"""The files segapp ships beside its code: ``resources/`` (icons, demo assets) and
``models/`` (model weights such as the demo model).

Both folders sit at the top of the source tree, where a checkout (and an editable install)
reads them. A wheel carries them as data files (``[tool.setuptools.data-files]`` in
pyproject.toml) that pip installs under ``<prefix>/share/segapp/``; the installed
distribution's own file list says where that is, so ``--user`` and ``--prefix`` installs
find them too.
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SHARE = ("share", "segapp")


def resource(*parts: str) -> Path:
    """A path under ``resources/`` (it need not exist: check before use)."""
    return shipped_root().joinpath("resources", *parts)


def model(*parts: str) -> Path:
    """A path under ``models/`` (it need not exist: check before use)."""
    return shipped_root().joinpath("models", *parts)


@functools.cache
def shipped_root() -> Path:
    """The folder holding ``resources/`` and ``models/``: the checkout, else the install's."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "models").is_dir():
        return CHECKOUT
    return _installed_root() or CHECKOUT


def _installed_root() -> Path | None:
    """``<prefix>/share/segapp`` as recorded by the installed wheel, if any."""
    try:
        dist = metadata.distribution("segapp")
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        parts = file.parts
        for i in range(len(parts) - 1):
            if parts[i : i + 2] == SHARE:
                return Path(str(dist.locate_file(Path(*parts[: i + 2])))).resolve()
    return None
