"""breastlab.models: the networks the studies train, and how to explain them.

``registry``: ``get_model(name, ...)`` builds ResNet-50/18, ViT-B/16, AlexNet or a small CNN for grey
input (pretrained first convolutions summed over RGB), from ImageNet weights or a state dict;
``gradcam``: Grad-CAM maps of a convolutional layer (Selvaraju et al. 2017).
"""

from breastlab.models.gradcam import grad_cam, last_conv_layer
from breastlab.models.registry import (
    SmallCNN,
    check_weights,
    get_classifier,
    get_model,
    imagenet_weights_file,
    list_models,
)

__all__ = [
    "SmallCNN",
    "check_weights",
    "get_classifier",
    "get_model",
    "grad_cam",
    "imagenet_weights_file",
    "last_conv_layer",
    "list_models",
]
