"""Plain convolutional networks: SmallCNN (the fast CPU default) and All-CNN-C (the paper's CIFAR model)."""

from __future__ import annotations

from torch import nn


def conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    """Conv -> BatchNorm -> ReLU, padding keeps the size (stride 2 halves it)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Five conv layers, 32 -> 16 -> 8; ~0.1M parameters at width 1. GradCAM layer: features[-1] (8x8)."""

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        c = max(8, int(32 * width))
        self.features = nn.Sequential(
            conv_bn(in_channels, c),  # [B, c, 32, 32]
            conv_bn(c, 2 * c, stride=2),  # [B, 2c, 16, 16]
            conv_bn(2 * c, 2 * c),
            conv_bn(2 * c, 4 * c, stride=2),  # [B, 4c, 8, 8]
            conv_bn(4 * c, 4 * c),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * c, num_classes)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


class AllCNN(nn.Module):
    """All-CNN-C (Springenberg et al.) with BatchNorm, as used by the UNSIR paper for CIFAR-10.

    Nine convolutions, strided convolutions instead of pooling, a 1x1 conv classifier and global
    average pooling. GradCAM layer: features[-1] (8x8 at 32x32 input).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        a, b = max(8, int(96 * width)), max(8, int(192 * width))
        self.features = nn.Sequential(
            conv_bn(in_channels, a),
            conv_bn(a, a),
            conv_bn(a, a, stride=2),  # [B, a, 16, 16]
            nn.Dropout(0.2),
            conv_bn(a, b),
            conv_bn(b, b),
            conv_bn(b, b, stride=2),  # [B, b, 8, 8]
            nn.Dropout(0.2),
            conv_bn(b, b),
            conv_bn(b, b, kernel=1),  # [B, b, 8, 8]
        )
        self.classifier = nn.Conv2d(b, num_classes, 1)  # [B, K, 8, 8]
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.classifier(self.features(x))).flatten(1)
