"""``segapp train-standby``: a training process started ahead of its round.

The window starts it while a person corrects masks. It imports what a run needs (torch,
smp and timm, albumentations: 9-10 s on a 2-core CPU, about 7 s on a GPU machine), then
reads one line on stdin: the round's ``segapp train`` arguments as a JSON list. It runs
that round as ``segapp train`` would, its time budget counted from the line, and exits.
End of input instead (the window closed, or no round came): it exits quietly.
"""

from __future__ import annotations

import json
import sys

from segapp.core.imageio import SegappError


def import_ahead() -> None:
    """Import the modules a training run needs (the costly part of its start)."""
    import segmentation_models_pytorch  # noqa: F401 - timm, torchvision, torch._dynamo

    import segapp.ml.train  # noqa: F401 - torch
    from segapp.ml.data import import_albumentations

    import_albumentations()


def wait_for_round() -> list[str] | None:
    """Import ahead, say so (``{"event": "ready"}``), then the round's ``segapp train``
    arguments from stdin's first line; None at the end of input (no round came)."""
    import_ahead()
    print(json.dumps({"event": "ready"}), flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return None
    try:
        argv = json.loads(line)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise SegappError(
            "train-standby: the first line on stdin must be a JSON list of `segapp train` "
            f"arguments, not {line.strip()[:80]!r}"
        )
    return argv
