"""The builder: a network plan (or an ArchSpec, through its plan) -> a runnable nn.Module."""

from __future__ import annotations

import torch
from torch import nn

from gensynth.blocks import make_block
from gensynth.plan import NetPlan, network_plan
from gensynth.spec import ArchSpec


class GenNet(nn.Module):
    """A network built from a plan: ``head(stages(stem(x)))`` (first, middle, last sections).

    Offers timm's model interface: ``num_classes``, ``num_features``, ``forward_features``
    (the last stage's feature map), ``forward_head`` (``pre_logits=True``: the pooled
    features), ``get_classifier`` and ``reset_classifier``.
    """

    def __init__(self, plan: NetPlan) -> None:
        super().__init__()
        stem, *stages, head = plan.sections
        self.stem = nn.Sequential(*(make_block(b) for b in stem.blocks))
        self.stages = nn.Sequential(
            *(nn.Sequential(*(make_block(b) for b in s.blocks)) for s in stages)
        )
        self.head = nn.Sequential(*(make_block(b) for b in head.blocks))
        self.in_chans = plan.in_channels
        classifier = self.get_classifier()
        self.num_classes, self.num_features = classifier.out_features, classifier.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if not pre_logits:
            return self.head(x)
        parent, name = self._classifier_slot()
        classifier = parent._modules[name]
        parent._modules[name] = nn.Identity()  # the head up to (not through) the classifier
        try:
            return self.head(x)
        finally:
            parent._modules[name] = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))

    def get_classifier(self) -> nn.Module:
        parent, name = self._classifier_slot()
        return parent._modules[name]

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` outputs (0: none, the pooled features)."""
        parent, name = self._classifier_slot()
        new = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        parent._modules[name] = new
        self.num_classes = num_classes

    def _classifier_slot(self) -> tuple[nn.Module, str]:
        """(parent module, child name) of the head's last Linear (or the Identity set in
        its place by ``reset_classifier(0)``)."""
        slots = [
            (parent, name)
            for parent in self.head.modules()
            for name, child in parent.named_children()
            if isinstance(child, (nn.Linear, nn.Identity))
        ]
        return slots[-1]


def build_model(spec: ArchSpec | NetPlan) -> GenNet:
    """Build the PyTorch network an ArchSpec (or a plan) describes, freshly initialised.

    Example:
        >>> from gensynth.spec import Stage
        >>> net = build_model(ArchSpec("t", num_classes=10,
        ...                            stages=(Stage(width=16, depth=1, columns=4),)))
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    return GenNet(spec if isinstance(spec, NetPlan) else network_plan(spec))


def calibrate_norms(model: nn.Module, shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """Set every BatchNorm's running statistics from one batch of unit-normal inputs, as
    training would, so that an untrained network's activations keep unit scale when timed.

    A freshly initialised network's activations shrink layer by layer (1e-5 after a few
    stages), reach denormal floats and make its latency depend on its random weights
    (measured: the same spec 0.97x-1.37x FBNet-C's latency over three initialisations).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = 1.0  # running statistics := this batch's
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    model.train()
    with torch.no_grad():
        model(x)
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    return model.eval()


def shipped_form(model: nn.Module, shape: tuple[int, ...]) -> nn.Module:
    """What is timed and exported: BatchNorm statistics calibrated on a unit-normal batch of
    two inputs of ``shape`` (N, C, H, W; N is ignored), then folded into the convolutions."""
    return deployment_form(calibrate_norms(model, (2, *shape[1:])))


def deployment_form(model: nn.Module) -> nn.Module:
    """The form that ships: a copy in eval mode with every BatchNorm that directly follows a
    convolution folded into it (torch's `fuse_conv_bn_eval`; the outputs agree to float
    rounding). Latency is measured on this form, and exports are written from it."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i], module[i + 1] = fuse_conv_bn_eval(conv, norm), nn.Identity()
    return folded
