"""The V-Net shared by every loss of a run (the HyTver study's network).

Encoder levels of conv blocks (3x3x3 conv + batch norm + LeakyReLU; 1, 2, 3, 3, 3 convolutions per
level), downsampling by a strided 2x2x2 conv with the same norm and activation; decoder levels of a
transposed 2x2x2 conv + batch norm + LeakyReLU, concatenation of the encoder's skip, and a conv
block; a 1x1x1 head gives one lesion logit per voxel. Channels start at ``width`` and double per
level. At width 16 and 5 levels the network has 10,044,193 parameters (``count_parameters``;
the study's released network, with additive skips, has about 9.5 M).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MIN_LEVELS", "VNet", "count_parameters", "size_multiple"]

CONVS_PER_LEVEL = (1, 2, 3, 3, 3)

MIN_LEVELS = 2
"""The fewest resolution levels a V-Net has (one downsampling and one upsampling)."""


def size_multiple(levels: int) -> int:
    """The edge (voxels) that a patch must be a multiple of so that no level pads it:
    ``2 ** (levels - 1)``.

    Example:
        >>> size_multiple(3), size_multiple(5)
        (4, 16)
    """
    return 2 ** (levels - 1)


def _unit(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0)
    return nn.Sequential(conv, nn.BatchNorm3d(cout), nn.LeakyReLU(0.01, inplace=True))


def _block(cin: int, cout: int, convs: int) -> nn.Sequential:
    return nn.Sequential(*[_unit(cin if i == 0 else cout, cout, 3) for i in range(convs)])


class VNet(nn.Module):
    """3D V-Net: (B, in_channels, x, y, z) images to (B, 1, x, y, z) lesion logits.

    Inputs of any size work: they are zero-padded to a multiple of ``2 ** (levels - 1)`` and the
    output is cropped back.

    Args:
        in_channels: input channels (3 for a longitudinal case: baseline, follow-up,
            difference).
        width: channels of the first level; doubled at each level.
        levels: number of resolution levels (at most 5 with the study's conv counts, more repeat
            the last count).

    Example:
        >>> net = VNet(width=4, levels=3)
        >>> net(torch.zeros(2, 3, 9, 10, 11)).shape
        torch.Size([2, 1, 9, 10, 11])
        >>> count_parameters(VNet(width=16, levels=5))
        10044193
    """

    def __init__(self, in_channels: int = 3, width: int = 16, levels: int = 5) -> None:
        super().__init__()
        if levels < MIN_LEVELS or width < 1:
            raise ValueError(
                f"VNet needs levels >= {MIN_LEVELS} and width >= 1, got {levels} and {width}"
            )
        self.levels = levels
        self.in_channels = in_channels
        convs = [CONVS_PER_LEVEL[min(i, len(CONVS_PER_LEVEL) - 1)] for i in range(levels)]
        chans = [width * 2**i for i in range(levels)]
        self.stem = _unit(in_channels, chans[0], 3)
        self.encoder = nn.ModuleList([_block(chans[i], chans[i], convs[i]) for i in range(levels)])
        self.down = nn.ModuleList(
            [_unit(chans[i], chans[i + 1], 2, stride=2) for i in range(levels - 1)]
        )
        self.up = nn.ModuleList(
            [
                nn.Sequential(
                    nn.ConvTranspose3d(chans[i + 1], chans[i], 2, stride=2),
                    nn.BatchNorm3d(chans[i]),
                    nn.LeakyReLU(0.01, inplace=True),
                )
                for i in range(levels - 1)
            ]
        )
        self.decoder = nn.ModuleList(
            [_block(2 * chans[i], chans[i], convs[i]) for i in range(levels - 1)]
        )
        self.head = nn.Conv3d(chans[0], 1, 1)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the stem, encoder blocks and downsampling (frozen by
        ``train.freeze_encoder``)."""
        return [p for m in (self.stem, self.encoder, self.down) for p in m.parameters()]

    def forward(self, x: Tensor) -> Tensor:
        """Lesion logits (B, 1, x, y, z) of images (B, in_channels, x, y, z)."""
        size = x.shape[2:]
        factor = size_multiple(self.levels)
        pad = [p for s in reversed(size) for p in (0, (-s) % factor)]
        h = self.stem(F.pad(x, pad))
        skips = []
        for i in range(self.levels):
            h = self.encoder[i](h)
            if i < self.levels - 1:
                skips.append(h)
                h = self.down[i](h)
        for i in reversed(range(self.levels - 1)):
            h = self.decoder[i](torch.cat([self.up[i](h), skips[i]], dim=1))
        out = self.head(h)
        return out[(Ellipsis,) + tuple(slice(0, s) for s in size)]  # noqa: RUF005


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    Example:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
