"""Turning an image of any depth and channel count into the network's input, one way for all."""

from __future__ import annotations

import cv2
import numpy as np

from segapp.core.imageio import to_rgb, to_uint8
from segapp.ml.spec import ModelSpec


def input_stats(spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std) on the 0..1 scale that the network expects."""
    if spec.arch.startswith("smp") and spec.in_channels == 3:
        from segapp.ml.pretrained import imagenet_normalization

        mean, std = imagenet_normalization(spec)
    else:
        mean, std = (0.5,) * spec.in_channels, (0.25,) * spec.in_channels
    return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def match_channels(img: np.ndarray, in_channels: int) -> np.ndarray:
    """HxW/HxWx3 of any depth -> HxWxC uint8 with C = ``in_channels`` (1 or 3)."""
    if in_channels == 3:
        return to_rgb(img)
    img = to_uint8(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if in_channels != 1:
        raise ValueError(f"cannot feed an image to a network with {in_channels} input channels")
    return img[:, :, None]


def normalize(img_hwc_uint8: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """HxWxC uint8 -> CxHxW float32, normalised for the network."""
    return normalize_with(img_hwc_uint8, *input_stats(spec))


def normalize_with(img_hwc_uint8: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """HxWxC uint8 -> CxHxW float32: (x / 255 - mean) / std per channel."""
    x = img_hwc_uint8.astype(np.float32) * (1.0 / 255.0)
    x -= mean
    x /= std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def with_click_channels(x: np.ndarray, click_channels: int) -> np.ndarray:
    """A CxHxW image input followed by ``click_channels`` empty click channels (a proposal:
    no previous mask, no clicks)."""
    if not click_channels:
        return x
    empty = np.zeros((click_channels, *x.shape[1:]), np.float32)
    return np.concatenate([x, empty])


def to_model_input(img: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Any supported image -> CxHxW float32 network input (for a proposal)."""
    return with_click_channels(image_input(img, spec), spec.click_channels)


def image_input(img: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """Any supported image -> its CxHxW float32 channels of the network input."""
    return normalize(match_channels(img, spec.in_channels), spec)
