"""Atomic writes (temp file, fsync, rename, folder fsync): names and permissions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from segapp.core.imageio import write_bytes_atomic, write_mask


def test_a_name_too_long_for_its_temp_name_still_saves(tmp_path):
    name = "n" * 251 + ".png"  # 255 bytes: the most a file name may have
    write_mask(tmp_path / name, np.ones((4, 4), np.uint8))
    write_bytes_atomic(tmp_path / ("é" * 125 + ".json"), b"{}")  # 255 bytes in UTF-8
    assert (tmp_path / name).exists() and len(list(tmp_path.iterdir())) == 2


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_an_atomic_write_keeps_the_permissions_a_file_has_or_would_get(tmp_path):
    new = tmp_path / "new.png"
    write_mask(new, np.zeros((2, 2), np.uint8))
    umask = os.umask(0o022)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    os.chmod(new, 0o640)
    write_mask(new, np.ones((2, 2), np.uint8))
    assert new.stat().st_mode & 0o777 == 0o640
