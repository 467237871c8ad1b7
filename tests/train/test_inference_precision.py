"""Prediction under bf16 autocast (the GPU's; the CPU's bf16 autocast here): scores stay float32.

bf16 keeps 8 significant bits, so logits made in bf16 tie across images and move ranks, AUCs and
thresholds. Every prediction path computes its final layer in float32; these tests compare its
scores under autocast with the float32 scores of the same network, and check that outside
autocast (the CPU) nothing changes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from breastlab import runtime
from breastlab.models import get_classifier, get_model
from breastlab.runtime import float32_layers


def _cpu_bf16(device):
    return torch.autocast("cpu", dtype=torch.bfloat16)


def _ties(scores) -> int:
    return len(scores) - len(np.unique(np.asarray(scores)))


def _net(seed: int = 0):
    torch.manual_seed(seed)
    model = get_model("small_cnn", 2, 1, None, width=8).eval()
    with torch.no_grad():
        model.fc.weight.mul_(40)  # logits of a few units, as a trained model gives (bf16 spacing 1/64 to 1/32)
    return model


def test_float32_layers_give_float32_logits_without_bf16_ties():
    model, x = _net(), torch.rand(256, 1, 24, 24)
    with torch.no_grad():
        p32 = torch.softmax(model(x), 1)[:, 1].numpy()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            plain = model(x)
            with float32_layers(model.fc):
                fixed = model(x)
        with float32_layers(model.fc):
            same = torch.softmax(model(x), 1)[:, 1].numpy()
    assert plain.dtype == torch.bfloat16  # what autocast gives without the hook: ...
    assert _ties(torch.softmax(plain.float(), 1)[:, 1].numpy()) > _ties(p32) + 20  # ... tied scores
    assert fixed.dtype == torch.float32
    p16 = torch.softmax(fixed, 1)[:, 1].numpy()
    assert _ties(p16) <= _ties(p32)
    np.testing.assert_allclose(p16, p32, atol=2e-2)
    np.testing.assert_array_equal(same, p32)  # outside autocast: bit-identical
    assert not model.fc._forward_hooks  # the hook is gone when the context closes


def test_spurbreast_predictions_under_autocast_follow_float32(toy_split, monkeypatch):
    from breastlab.curate.split_store import load_split_manifest
    from breastlab.data.store import ArrayStore
    from breastlab.train.data import ImageSource, split_parts
    from breastlab.train.loop import TrainConfig, predict_part

    store_path, split = toy_split
    man = load_split_manifest(split)
    parts = split_parts(man, sorted(man["group"].unique()))
    cfg = TrainConfig(store=str(store_path), split=str(split), out="unused", model="small_cnn",
                      model_kwargs={"width": 8}, image_size=24, device="cpu", progress=False)  # fmt: skip
    source = ImageSource(ArrayStore(store_path), man["row"].to_numpy(), torch.device("cpu"))
    model, cpu = _net(), torch.device("cpu")
    part = max(parts.values(), key=len)
    p32, loss32, _ = predict_part(model, source, part, cfg, cpu)
    monkeypatch.setattr(runtime, "autocast_context", _cpu_bf16)
    p16, loss16, _ = predict_part(model, source, part, cfg, cpu)
    assert p16.dtype == np.float32 and _ties(p16) <= _ties(p32) and len(p32) >= 40
    np.testing.assert_allclose(p16, p32, atol=2e-2)
    np.testing.assert_allclose(loss16, loss32, atol=5e-2, rtol=2e-2)


def test_classifier_probabilities_under_autocast_follow_float32(tmp_path, monkeypatch):
    from breastlab.data.store import write_store
    from breastlab.mammo.classify import load_images, predict_proba

    rng = np.random.default_rng(0)
    import pandas as pd

    n = 64
    man = pd.DataFrame({"image_id": [f"I{i}" for i in range(n)], "patient_id": [f"P{i}" for i in range(n)],
                        "label": ["negative"] * n})  # fmt: skip
    write_store(tmp_path / "s", rng.integers(0, 256, (n, 24, 24), dtype=np.uint8), man, meta={"pixel_mean": 0.5})
    images = load_images(tmp_path / "s")
    model = _net(1)
    # the classifier is found from the model's class (the models get_model builds)
    assert get_classifier(model) is model.fc
    p32 = predict_proba(model, images, np.arange(n), None)[:, 1]
    autocast_calls = []

    def spy(device):
        autocast_calls.append(device)
        return torch.autocast("cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(runtime, "autocast_context", spy)
    p16 = predict_proba(model, images, np.arange(n), None)[:, 1]
    assert autocast_calls  # the classifier predicts under the runtime's autocast, as the other studies do
    assert _ties(p16) <= _ties(p32)
    np.testing.assert_allclose(p16, p32, atol=2e-2)


@pytest.mark.parametrize("name", ["fcdd", "bce", "hsc"])
def test_anomaly_scores_under_autocast_follow_float32(name):
    from breastlab.anomaly.fcdd import FCDDNet, PooledNet
    from breastlab.anomaly.train import _scores

    torch.manual_seed(0)
    net = FCDDNet("small", width=8, depth=3) if name == "fcdd" else PooledNet(1 if name == "bce" else 8, width=8)
    net.eval()
    with torch.no_grad():
        (net.head if name == "fcdd" else net.fc).weight.mul_(2.0 if name == "fcdd" else 40.0)
    x = torch.rand(256, 1, 32, 32)
    s32 = _scores(name, net, x).numpy()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        s16 = _scores(name, net, x).numpy()
        plain = net(x).float()
    assert s16.dtype == np.float32 and _ties(s16) <= _ties(s32)
    np.testing.assert_allclose(s16, s32, rtol=3e-2, atol=1e-3)
    if name == "bce":  # without the float32 head, bf16 logits tie
        assert _ties(plain[:, 0].numpy()) > _ties(s32) + 20
    np.testing.assert_array_equal(_scores(name, net, x).numpy(), s32)  # float32: bit-identical again
