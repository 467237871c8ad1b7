"""Fully convolutional data description (FCDD) and the hypersphere classifier (HSC).

Liznerski P, Ruff L, Vandermeulen RA, Franks BJ, Kloft M, Müller K-R. Explainable deep
one-class classification. ICLR 2021.
Ruff L, Vandermeulen RA, Franks BJ, Müller K-R, Kloft M. Rethinking assumptions in deep
anomaly detection. ICML 2021 Workshop (arXiv:2006.00339), the hypersphere classifier.

FCDD: a fully convolutional network ``phi`` maps an image ``X`` (c x h x w) to a map
(u x v); its pseudo-Huber transform

    A(X) = sqrt(phi(X)^2 + 1) - 1                                   (elementwise, >= 0)

is the low-resolution anomaly heatmap and ``||A(X)||_1 / (u v)`` (the mean of A) the
anomaly score. With labels ``y`` (0 normal, 1 anomalous) the FCDD loss is

    L = 1/n sum_i [ (1 - y_i) mean(A(X_i)) - y_i log(1 - exp(-mean(A(X_i)))) ].

The full-resolution heatmap ``A'`` upsamples ``A`` with a fixed transposed convolution
whose kernel is a Gaussian of the size of the receptive field ``k`` and whose stride is
the network's cumulative stride (jump) ``j``: every low-resolution unit spreads its value
over its receptive field, centred on the receptive field's centre.

HSC uses the same loss on one feature vector ``z = psi(X)`` per image with the
pseudo-Huber norm ``h(z) = sqrt(||z||^2 + 1) - 1`` as anomaly score.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from breastlab.errors import BreastlabInputError
from breastlab.runtime import to_float32

EPS = 1e-9


# ============================================================================ loss
def pseudo_huber(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x^2 + 1) - 1`` elementwise (FCDD's A(X) applied to phi(X)); at least float32.

    ``sqrt(v + 1) - 1`` cancels: in bf16 (8 significant bits) ``v + 1`` is 1 for every ``v < 2**-8``, so a
    well-trained FCDD's small A(X) would all be 0 and the rest multiples of 2**-7: half precision is
    computed in float32 (:func:`breastlab.runtime.to_float32`).
    """
    x = to_float32(x)
    return torch.sqrt(x * x + 1.0) - 1.0


def fcdd_score(a: torch.Tensor) -> torch.Tensor:
    """Anomaly score per image: the mean of A over its spatial (and channel) dimensions."""
    return a.flatten(1).mean(dim=1)


def fcdd_loss(a: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """FCDD loss of heatmaps ``a`` (B, 1, u, v) = A(X) with labels ``y`` (B,), 1 = anomalous.

    normal: ``mean(A)``; anomalous: ``-log(1 - exp(-mean(A)))``, computed as
    ``-log(-expm1(-mean(A)))`` (accurate for small means; the mean is floored at 1e-9).
    """
    s = fcdd_score(a)
    return _semi_supervised(s, y, reduction)


def _semi_supervised(s: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
    y = y.to(s.dtype).reshape(-1)
    if y.shape[0] != s.shape[0]:
        raise BreastlabInputError(f"labels: {y.shape[0]} values for {s.shape[0]} images")
    anomalous = -torch.log(-torch.expm1(-s.clamp_min(EPS)))
    per = (1 - y) * s + y * anomalous
    if reduction == "none":
        return per
    if reduction == "mean":
        return per.mean()
    if reduction == "sum":
        return per.sum()
    raise BreastlabInputError(f"reduction={reduction!r}: valid values are 'mean', 'sum', 'none'")


def hsc_score(z: torch.Tensor) -> torch.Tensor:
    """HSC anomaly score ``sqrt(||z||^2 + 1) - 1`` of feature vectors ``z`` (B, d); at least float32."""
    return torch.sqrt((to_float32(z).flatten(1) ** 2).sum(dim=1) + 1.0) - 1.0


def hsc_loss(z: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Hypersphere classifier loss: FCDD's semi-supervised loss on :func:`hsc_score`."""
    return _semi_supervised(hsc_score(z), y, reduction)


# ============================================================================ receptive field
@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of an output unit: size ``r``, jump (cumulative stride) ``j``, and the
    input coordinate ``start`` (pixel centres, 0-based) of the centre of unit 0's field;
    unit ``u`` is centred on ``start + u j``."""

    r: int
    j: int
    start: float


def receptive_field(layers: nn.Module) -> ReceptiveField:
    """Receptive field of a sequential stack of Conv2d / MaxPool2d / AvgPool2d (others pass through).

    Recurrence (Araujo et al., Distill 2019), per layer of kernel k, stride s, padding p, dilation d:
    ``r += (d (k - 1)) j``, ``start += ((d (k - 1)) / 2 - p) j``, ``j *= s``.
    """
    r, j, start = 1, 1, 0.0
    for m in layers.modules():
        if isinstance(m, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            k, s, p, d = (_first(getattr(m, a, 1)) for a in ("kernel_size", "stride", "padding", "dilation"))
            ext = d * (k - 1)
            r += ext * j
            start += (ext / 2 - p) * j
            j *= s
        elif isinstance(m, nn.Sequential | FCDDNet | ConvTrunk | nn.ModuleList):
            continue
        elif len(list(m.children())) == 0 and not isinstance(
            m, nn.BatchNorm2d | nn.ReLU | nn.LeakyReLU | nn.GroupNorm | nn.Identity | nn.Dropout
        ):
            raise BreastlabInputError(f"receptive_field: unsupported layer {type(m).__name__}")
    return ReceptiveField(int(r), int(j), float(start))


def _first(v) -> int:
    return int(v[0] if isinstance(v, tuple | list) else v)


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """2-D Gaussian ``g(a) g(b)`` of ``size x size`` (centre (size-1)/2), normalised to sum 1."""
    if size < 1 or sigma <= 0:
        raise BreastlabInputError(f"gaussian_kernel: size={size} must be >= 1 and sigma={sigma} > 0")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def receptive_upsample(
    a: torch.Tensor, rf: ReceptiveField, out_size: tuple[int, int], sigma: float | None = None
) -> torch.Tensor:
    """FCDD's heatmap upsampling: transposed convolution of ``a`` (B, 1, u, v) with a fixed
    Gaussian kernel of the receptive-field size ``rf.r``, stride ``rf.j``, placed so that unit
    (p, q) is centred on input pixel ``(start + p j, start + q j)``; output ``out_size``.

    ``A'(y, x) = sum_{p, q} A(p, q) G(y - start - p j + c, x - start - q j + c)`` with ``c = (r - 1)/2``
    (zero outside the kernel). ``sigma`` defaults to ``r / 4`` (FCDD's default at 224 px
    inputs is comparable: a kernel covering the field with about +-2 sigma).
    """
    if a.ndim != 4 or a.shape[1] != 1:
        raise BreastlabInputError(f"receptive_upsample: expected (B, 1, u, v), got {tuple(a.shape)}")
    # kernel centre (k - 1) / 2 must sit a whole number of pixels from ``start`` (a 2x2 pool puts the
    # field's centre between pixels: then an even kernel, else an odd one)
    k = rf.r if float((rf.r - 1) / 2 - rf.start).is_integer() else rf.r + 1
    sigma = k / 4 if sigma is None else sigma
    kernel = gaussian_kernel(k, sigma).to(a.dtype).to(a.device)[None, None]
    full = F.conv_transpose2d(a, kernel, stride=rf.j)  # unit (p, q) centred on (p j + c, q j + c)
    # shift so that the centre lands on start + p j: crop (or pad) c - start at the top/left
    off = (k - 1) / 2 - rf.start
    off_i = int(round(off))
    if abs(off - off_i) > 1e-6:
        raise BreastlabInputError(f"receptive field start {rf.start} is not on the pixel grid")
    h, w = out_size
    full = full[:, :, off_i:, off_i:] if off_i >= 0 else F.pad(full, (-off_i, 0, -off_i, 0))
    full = full[:, :, :h, :w]
    ph, pw = h - full.shape[2], w - full.shape[3]
    if ph > 0 or pw > 0:
        full = F.pad(full, (0, max(pw, 0), 0, max(ph, 0)))
    return full


# ============================================================================ networks
class ConvTrunk(nn.Sequential):
    """Small CPU backbone: ``depth`` blocks of conv 3x3 (no bias), BatchNorm, LeakyReLU, max-pool 2
    (no pool after the last block). Grey input (1 channel) natively."""

    def __init__(self, in_channels: int = 1, width: int = 16, depth: int = 4) -> None:
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(depth):
            cout = width * 2 ** min(i, 3)
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]
            if i < depth - 1:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        super().__init__(*layers)
        self.out_channels = cin


def vgg11_trunk(weights: str | None = None, in_channels: int = 1) -> nn.Sequential:
    """FCDD's GPU backbone: VGG-11 with BatchNorm truncated after the third block (stride 8), as in
    Liznerski et al.; grey input natively (ImageNet's first conv summed over RGB when ``weights``)."""
    import torchvision

    from breastlab.models import imagenet_weights_file

    vgg = torchvision.models.vgg11_bn(weights=None)
    feats = vgg.features[:-8]  # up to conv4_2 + BN + ReLU, before the last pool(s): stride 8
    if weights is not None and str(weights).lower() != "none":
        state = None
        if weights == "imagenet":
            default, known = imagenet_weights_file("vgg11_bn")
            path = next((p for p in known if p.exists()), None)
            if path is None:
                raise BreastlabInputError(
                    f"ImageNet weights for vgg11_bn not found at {default}; "
                    "breastlab does not download them (use weights=None)"
                )
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
        feats.load_state_dict({k: v for k, v in state.items() if k in feats.state_dict()}, strict=False)
    if in_channels != 3:
        conv = feats[0]
        new = nn.Conv2d(in_channels, conv.out_channels, 3, padding=1)
        with torch.no_grad():
            new.weight.copy_(conv.weight.sum(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) / in_channels)
            new.bias.copy_(conv.bias)
        feats[0] = new
    feats.out_channels = 512
    return feats


def _trunk(backbone: str, width: int, depth: int, weights: str | None) -> nn.Sequential:
    if backbone == "small":
        return ConvTrunk(1, width, depth)
    if backbone == "vgg11":
        return vgg11_trunk(weights)
    raise BreastlabInputError(f"backbone={backbone!r}: valid backbones are 'small' (CPU) and 'vgg11' (GPU)")


class FCDDNet(nn.Module):
    """phi: trunk + 1x1 conv to one channel (no fully connected layer). ``forward`` returns A(X)."""

    def __init__(self, backbone: str = "small", width: int = 16, depth: int = 4, weights: str | None = None):
        super().__init__()
        self.features = _trunk(backbone, width, depth, weights)
        self.head = nn.Conv2d(self.features.out_channels, 1, 1, bias=False)

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pseudo_huber(self.phi(x))

    @property
    def receptive_field(self) -> ReceptiveField:
        return receptive_field(nn.Sequential(self.features, self.head))

    def heatmap(self, x: torch.Tensor, sigma: float | None = None) -> torch.Tensor:
        """Full-resolution heatmaps (B, H, W) by :func:`receptive_upsample`."""
        return receptive_upsample(self(x), self.receptive_field, tuple(x.shape[-2:]), sigma)[:, 0]

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return fcdd_score(self(x))


class PooledNet(nn.Module):
    """Trunk + global average pool + linear: the BCE classifier (``out_dim=1`` logit) and the HSC
    feature map (``out_dim=d``). ``forward`` returns (B, out_dim)."""

    def __init__(
        self, out_dim: int = 1, backbone: str = "small", width: int = 16, depth: int = 4, weights: str | None = None
    ):
        super().__init__()
        self.features = _trunk(backbone, width, depth, weights)
        self.fc = nn.Linear(self.features.out_channels, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


class HSCScore(nn.Module):
    """Wraps an HSC network so its single output is the anomaly score (for Grad-CAM)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hsc_score(self.net(x))[:, None]


# ============================================================================ synthetic anomalies
def confetti_noise(
    images: torch.Tensor,
    generator: torch.Generator,
    n_blobs: tuple[int, int] = (1, 4),
    size: tuple[int, int] = (3, 12),
    intensity: tuple[float, float] = (0.4, 1.0),
) -> torch.Tensor:
    """Outlier exposure (FCDD's "confetti noise", adapted to grey MIPs): copies of ``images``
    (B, 1, H, W) in [0, 1] with 1-4 bright rectangles of random size and intensity added
    (clipped to 1). Returns the anomalous copies."""
    out = images.clone()
    b, _, h, w = out.shape
    for i in range(b):
        k = int(torch.randint(n_blobs[0], n_blobs[1] + 1, (1,), generator=generator))
        for _ in range(k):
            bh, bw = (int(torch.randint(size[0], size[1] + 1, (1,), generator=generator)) for _ in range(2))
            y = int(torch.randint(0, max(1, h - bh), (1,), generator=generator))
            x = int(torch.randint(0, max(1, w - bw), (1,), generator=generator))
            v = intensity[0] + (intensity[1] - intensity[0]) * float(torch.rand(1, generator=generator))
            out[i, :, y : y + bh, x : x + bw] += v
    return out.clamp_(0, 1)
