"""Grad-CAM (Selvaraju et al. 2017) with forward/backward hooks on a conv layer.

Selvaraju RR, Cogswell M, Das A, et al. Grad-CAM: visual explanations from deep
networks via gradient-based localization. ICCV 2017:618-626.

For a target score ``y`` (the logit of the explained class) and the activations
``A^k`` (channel k, spatial size u x v) of a convolutional layer::

    alpha_k = (1 / (u v)) sum_ij  d y / d A^k_ij          (global-average-pooled gradient)
    L       = ReLU( sum_k alpha_k A^k )                    (u x v map)

``L`` is upsampled bilinearly to the input size and scaled to [0, 1] per image
(divided by its maximum; an all-zero map stays zero). By default the layer is
the last ``nn.Conv2d`` of the model in registration order (the last conv block
of a CNN; for ViT-B/16 that is the patch embedding, which gives a coarse map).

A model with one output explains ``+logit`` for class 1 and ``-logit`` for class 0;
a model with C outputs explains the logit of the requested class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from breastlab.errors import BreastlabInputError


def last_conv_layer(model: nn.Module) -> nn.Conv2d:
    """The last ``nn.Conv2d`` registered in ``model``."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise BreastlabInputError(f"{type(model).__name__} has no nn.Conv2d layer for Grad-CAM; pass target_layer=")
    return convs[-1]


def grad_cam(
    model: nn.Module,
    images: torch.Tensor,
    target_class: int | torch.Tensor | None = 1,
    target_layer: nn.Module | None = None,
) -> torch.Tensor:
    """Grad-CAM maps (B, H, W) in [0, 1] for a batch ``images`` (B, C, H, W).

    ``target_class``: class to explain (an int for all images, a (B,) tensor, or
    None for each image's predicted class). The model is put in eval mode for the
    call and restored afterwards; gradients of its parameters are not kept.
    """
    if images.ndim != 4:
        raise BreastlabInputError(f"images: expected a (B, C, H, W) tensor, got shape {tuple(images.shape)}")
    layer = target_layer if target_layer is not None else last_conv_layer(model)
    store: dict[str, torch.Tensor] = {}

    def forward_hook(_module, _inp, out):
        store["act"] = out
        out.register_hook(lambda grad: store.__setitem__("grad", grad))

    handle = layer.register_forward_hook(forward_hook)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            x = images.detach().requires_grad_(False)
            logits = model(x)
            target = _target_scores(logits, target_class)
            grads = torch.autograd.grad(target.sum(), store["act"], retain_graph=False)[0]
    finally:
        handle.remove()
        model.train(was_training)
    act = store["act"].detach()
    alpha = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
    cam = F.relu((alpha * act).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return (cam / peak).clamp(0, 1)


def _target_scores(logits: torch.Tensor, target_class) -> torch.Tensor:
    """The explained score of every image: (B,)."""
    if logits.ndim == 1:
        logits = logits[:, None]
    b, c = logits.shape
    if target_class is None:
        cls = (logits[:, 0] > 0).long() if c == 1 else logits.argmax(dim=1)
    elif isinstance(target_class, int):
        cls = torch.full((b,), int(target_class), dtype=torch.long, device=logits.device)
    else:
        cls = torch.as_tensor(target_class, dtype=torch.long, device=logits.device)
    if c == 1:
        if not torch.all((cls == 0) | (cls == 1)):
            raise BreastlabInputError("target_class: a one-output model explains class 0 or 1 only")
        return torch.where(cls == 1, logits[:, 0], -logits[:, 0])
    if torch.any(cls < 0) or torch.any(cls >= c):
        raise BreastlabInputError(f"target_class: must be in 0..{c - 1} for a model with {c} outputs")
    return logits.gather(1, cls[:, None])[:, 0]
