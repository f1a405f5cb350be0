"""Training never calls out: albumentations' update check at import is switched off."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import urllib.request

def refuse(*args, **kwargs):
    raise SystemExit("segapp called out to the network")

urllib.request.OpenerDirector.open = refuse  # BaseException: no library swallows it
from segapp.ml.data import build_augmentation
build_augmentation("medium", 64, "resize", True)
print("offline")
"""


def test_building_the_augmentation_makes_no_network_request():
    env = {k: v for k, v in os.environ.items() if k != "NO_ALBUMENTATIONS_UPDATE"}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "offline"
