"""Model registry: names, shapes, grey-scale adaptation, weights files."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from breastlab.errors import BreastlabInputError
from breastlab.models import get_classifier, get_model, imagenet_weights_file, list_models


def test_registry_lists_the_papers_models_and_cpu_models():
    assert {"resnet50", "vit_b_16", "alexnet", "resnet18", "small_cnn"} <= set(list_models())


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(BreastlabInputError, match="resnet50.*small_cnn|valid models"):
        get_model("resnet51")


@pytest.mark.parametrize(
    "name,size", [("resnet18", 64), ("resnet50", 64), ("alexnet", 96), ("small_cnn", 24), ("vit_b_16", 224)]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_models_give_two_logits(name, size, channels):
    model = get_model(name, num_classes=2, in_channels=channels).eval()
    with torch.no_grad():
        out = model(torch.rand(1, channels, size, size))
    assert out.shape == (1, 2)
    head = get_classifier(model, name)
    assert isinstance(head, nn.Linear) and head.out_features == 2
    assert get_classifier(model) is head  # found from the model's class as well


def test_classifier_of_a_model_the_registry_does_not_build_is_refused():
    with pytest.raises(BreastlabInputError, match="model of class Sequential: not one get_model builds"):
        get_classifier(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


def _fake_imagenet(path):
    """A torchvision resnet18 with 1000 classes (random weights stand in for the ImageNet file)."""
    torch.manual_seed(0)
    ref = torchvision.models.resnet18(num_classes=1000).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(ref.state_dict(), path)
    return ref


def test_one_channel_model_equals_rgb_reference_on_repeated_grey(tmp_path):
    """Summing the first conv over RGB == feeding torchvision's RGB model the grey channel three times."""
    ref = _fake_imagenet(tmp_path / "w.pth")
    ours = get_model("resnet18", in_channels=1, weights=tmp_path / "w.pth").eval()
    assert ours.conv1.weight.shape[1] == 1
    ours.fc = nn.Identity()
    ref.fc = nn.Identity()
    grey = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(grey), ref(grey.expand(-1, 3, -1, -1)), atol=1e-4, rtol=1e-4)


def test_imagenet_weights_missing_offline_names_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert imagenet_weights_file("resnet18")[0] == expected
    with pytest.raises(BreastlabInputError) as err:
        get_model("resnet18", weights="imagenet")
    assert "resnet18-f37072fd.pth" in str(err.value) and str(expected) in str(err.value)
    assert "--weights none" in str(err.value)
    # Placed there, the file is used (head replaced by a fresh 2-class one).
    expected.parent.mkdir(parents=True)
    ref = _fake_imagenet(expected)
    model = get_model("resnet18", in_channels=3, weights="imagenet")
    torch.testing.assert_close(model.conv1.weight, ref.conv1.weight)
    assert model.fc.out_features == 2


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    torch.save(torchvision.models.alexnet().state_dict(), tmp_path / "alex.pth")
    with pytest.raises(BreastlabInputError, match="does not fit"):
        get_model("resnet18", weights=tmp_path / "alex.pth")
    with pytest.raises(BreastlabInputError, match="no such file"):
        get_model("resnet18", weights=tmp_path / "missing.pth")
