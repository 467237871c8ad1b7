"""The model registry (torchvision style): ``get_model(name, ...)``, ``list_models()``.

The SpurBreast paper trains ResNet-50, ViT-B/16 and AlexNet; ``resnet18`` and
``small_cnn`` are added for CPU work (tests, the demo).

Grayscale input
---------------
MRI slices have one channel. Two equivalent ways feed them to an ImageNet model:

* ``in_channels=3``: the input pipeline repeats the channel (as SpurBreast's
  loader does with ``convert("RGB")``);
* ``in_channels=1`` (the default): the first convolution's pretrained kernel is
  summed over its RGB input channels, ``w'[o, 0] = sum_c w[o, c]``. Because a
  repeated channel gives ``sum_c w[o, c] * x = w'[o, 0] * x``, both produce
  exactly the same activations; the 1-channel form is cheaper.

Weights
-------
``weights=None`` (random initialisation), ``"imagenet"`` (torchvision's default
ImageNet weights, read from the torch hub cache; nothing is downloaded when
offline, a missing file raises an error naming the file and the folder) or a
path to a ``.pth`` state dict (ImageNet head or our own head; a head whose
shape does not match ``num_classes`` is re-initialised).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from breastlab.errors import BreastlabInputError

__all__ = [
    "get_model",
    "list_models",
    "get_classifier",
    "SmallCNN",
    "check_weights",
    "has_imagenet_weights",
    "imagenet_weights_file",
]


class SmallCNN(nn.Module):
    """A small CNN for CPU work: 4 conv blocks (conv 3x3, norm, ReLU, max-pool), global average pool, linear.

    ``norm="batch"`` (default) or ``"group"`` (GroupNorm; batch-size independent, so
    distributed training with per-rank batches equals single-process training exactly)
    or ``"none"``. Works at any input size >= 16 px. ``pool="max"`` replaces the global
    average pool by a global max pool (multiple-instance style: the image score follows its
    most suspicious location, as in Zhu et al., MICCAI 2017, for whole mammograms).
    """

    def __init__(
        self, num_classes: int = 2, in_channels: int = 1, width: int = 16, norm: str = "batch", pool: str = "avg"
    ) -> None:
        super().__init__()
        if norm not in ("batch", "group", "none"):
            raise BreastlabInputError(f"norm={norm!r}: valid values are 'batch', 'group', 'none'")
        if pool not in ("avg", "max"):
            raise BreastlabInputError(f"pool={pool!r}: valid values are 'avg' and 'max'")
        layers: list[nn.Module] = []
        chans = [in_channels, width, 2 * width, 4 * width, 8 * width]
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(cout))
            elif norm == "group":
                layers.append(nn.GroupNorm(min(8, cout), cout))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chans[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


# name -> (builder, path of the first conv, path of the classifier Linear)
_TORCHVISION: dict[str, tuple[str, str]] = {
    "resnet50": ("conv1", "fc"),
    "resnet18": ("conv1", "fc"),
    "alexnet": ("features.0", "classifier.6"),
    "vit_b_16": ("conv_proj", "heads.head"),
}
_CUSTOM: dict[str, Callable[..., nn.Module]] = {"small_cnn": SmallCNN}
_PATHS: dict[str, tuple[str, str]] = {**_TORCHVISION, "small_cnn": ("features.0", "fc")}


def list_models() -> list[str]:
    """Names accepted by :func:`get_model`."""
    return sorted(_PATHS)


def has_imagenet_weights(name: str) -> bool:
    """Whether torchvision publishes ImageNet weights for the registry model ``name`` (breastlab's own
    models, such as ``small_cnn``, have none)."""
    _check_name(name)
    return name not in _CUSTOM


def _check_name(name: str) -> None:
    if name not in _PATHS:
        raise BreastlabInputError(f"model {name!r} is not in the registry; valid models: {', '.join(list_models())}")


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def _set(module: nn.Module, path: str, new: nn.Module) -> None:
    *parents, last = path.split(".")
    parent = _get(module, ".".join(parents)) if parents else module
    if last.isdigit():
        parent[int(last)] = new
    else:
        setattr(parent, last, new)


# class of a built model -> path of its classifier Linear (torchvision's ResNet class serves resnet18 and resnet50)
_HEAD_OF_CLASS = {"SmallCNN": "fc", "ResNet": "fc", "AlexNet": "classifier.6", "VisionTransformer": "heads.head"}


def get_classifier(model: nn.Module, name: str | None = None) -> nn.Linear:
    """The final ``nn.Linear`` of a registry model (its input is the penultimate feature).

    ``name``: the registry name the model was built with; None: found from the model's class.
    """
    if name is not None:
        _check_name(name)
        return _get(model, _PATHS[name][1])
    kind = type(model).__name__
    path = _HEAD_OF_CLASS.get(kind)
    layer = _get(model, path) if path is not None else None
    if not isinstance(layer, nn.Linear):
        raise BreastlabInputError(
            f"model of class {kind}: not one get_model builds (valid classes: {', '.join(sorted(_HEAD_OF_CLASS))}); "
            "pass the registry name"
        )
    return layer


def imagenet_weights_file(name: str) -> tuple[Path, list[Path]]:
    """Where torchvision keeps ``name``'s default ImageNet weights: (expected file, all known files).

    The hub cache is ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``);
    the file name is the last part of the weights' URL.
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    default = folder / os.path.basename(enum.DEFAULT.url)
    known = [folder / os.path.basename(w.url) for w in enum if w.name.startswith("IMAGENET1K")]
    return default, [default] + [k for k in known if k != default]


def _imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    return torch.load(_imagenet_file(name), map_location="cpu", weights_only=True)


def _imagenet_file(name: str) -> Path:
    """The cached ImageNet weights file of ``name``; an error says where to place it when there is none."""
    default, known = imagenet_weights_file(name)
    for path in known:
        if path.exists():
            return path
    raise BreastlabInputError(
        f"ImageNet weights for {name!r} are not in the torch hub cache and breastlab does not download them. "
        f"Place torchvision's file {default.name} (from https://download.pytorch.org/models/{default.name}) at "
        f"{default} (set TORCH_HOME to use another cache), or pass --weights PATH to a state dict, "
        "or --weights none to train from random initialisation"
    )


def check_weights(name: str, weights: str | os.PathLike | None) -> None:
    """Refuse, before any work, what :func:`get_model` would refuse when it loads the weights: an unknown
    model, ImageNet weights of a model without them or not in the hub cache, a weights path that is no file."""
    _check_name(name)
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return
    if weights == "imagenet":
        if name in _CUSTOM:
            raise BreastlabInputError(f"model {name!r} has no ImageNet weights; use weights=None or a PATH")
        _imagenet_file(name)
    elif not Path(weights).is_file():
        raise BreastlabInputError(f"weights={str(weights)!r}: no such file; valid: 'none', 'imagenet' or a .pth path")
    elif Path(weights).stat().st_size == 0:
        raise BreastlabInputError(f"weights {weights}: an empty file, not a state dict")


def _load_state_dict(model: nn.Module, state: dict[str, torch.Tensor], name: str, source: str) -> None:
    """Load ``state`` into ``model``, adapting the first conv (RGB -> 1 channel) and skipping a mismatched head."""
    conv_key = _PATHS[name][0] + ".weight"
    head = _PATHS[name][1]
    own = model.state_dict()
    state = dict(state)
    if conv_key in state and state[conv_key].shape[1] != own[conv_key].shape[1]:
        if own[conv_key].shape[1] == 1 and state[conv_key].shape[1] == 3:
            # Summing over RGB equals feeding the grey channel three times (see module docstring).
            state[conv_key] = state[conv_key].sum(dim=1, keepdim=True)
        else:
            raise BreastlabInputError(
                f"{source}: first convolution has {state[conv_key].shape[1]} input channels, "
                f"the model {own[conv_key].shape[1]}; valid: same count, or 3 -> 1"
            )
    for key in (f"{head}.weight", f"{head}.bias"):
        if key in state and state[key].shape != own[key].shape:
            del state[key]  # an ImageNet head (1000 classes): keep our freshly initialised one
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(head + ".")]
    if missing or unexpected:
        raise BreastlabInputError(
            f"{source}: state dict does not fit {name!r} (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def get_model(
    name: str,
    num_classes: int = 2,
    in_channels: int = 1,
    weights: str | os.PathLike | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registry model.

    Parameters
    ----------
    name : one of :func:`list_models`.
    num_classes : outputs of the final linear layer.
    in_channels : 1 (grey; pretrained first conv summed over RGB) or 3 (the pipeline repeats the channel).
    weights : None / "none", "imagenet", or a path to a state dict.
    kwargs : passed to the builder (e.g. ``norm="group"`` for ``small_cnn``, ``image_size`` for ``vit_b_16``).
    """
    _check_name(name)
    if in_channels not in (1, 3):
        raise BreastlabInputError(f"in_channels={in_channels!r}: valid values are 1 and 3")
    if isinstance(weights, str) and weights.lower() == "none":
        weights = None
    if name in _CUSTOM:
        model = _CUSTOM[name](num_classes=num_classes, in_channels=in_channels, **kwargs)
    else:
        import torchvision

        model = torchvision.models.get_model(name, weights=None, **kwargs)
        conv_path, head_path = _PATHS[name]
        conv = _get(model, conv_path)
        if in_channels != conv.in_channels:
            _set(
                model,
                conv_path,
                nn.Conv2d(
                    in_channels,
                    conv.out_channels,
                    conv.kernel_size,
                    conv.stride,
                    conv.padding,
                    bias=conv.bias is not None,
                ),
            )
        old = _get(model, head_path)
        _set(model, head_path, nn.Linear(old.in_features, num_classes))
    if weights is None:
        return model
    if weights == "imagenet":
        if name in _CUSTOM:
            raise BreastlabInputError(f"model {name!r} has no ImageNet weights; use weights=None or a PATH")
        _load_state_dict(model, _imagenet_state_dict(name), name, f"ImageNet weights of {name}")
        return model
    check_weights(name, weights)
    path = Path(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError) as exc:
        raise BreastlabInputError(
            f"weights {path}: not a state dict torch can read ({type(exc).__name__}: {exc})"
        ) from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # one of our checkpoints
    _load_state_dict(model, state, name, str(path))
    return model
