"""Plain and re-parameterisable 3x3 conv blocks for deploy-friendly (NPU) backbones and necks.

``ConvReLU`` is the deploy block: ``ReLU(BN(conv3x3(x)))``, a plain ultralytics ``Conv`` (attributes ``conv``, ``bn``,
``act``) so the stock ``BaseModel.fuse()`` folds its BatchNorm into the convolution.

``RepConvReLU`` is its training-time twin after RepVGG (Ding et al., "RepVGG: Making VGG-style ConvNets Great Again",
CVPR 2021): ``ReLU(BN(conv3x3(x)) + BN1(conv1x1(x)) + BN0(x))``, the identity branch only when ``c1 == c2`` and stride
1. Because every branch is linear in ``x`` in eval mode, the three fold into one 3x3 kernel and bias (RepVGG Sec. 3.3):

    BN(conv_K(x)) = conv_{K * g/s}(x) + (beta - mu * g / s),   s = sqrt(var + eps), g, beta = BN weight and bias;
    a 1x1 kernel is a 3x3 kernel that is zero except at its centre;
    the identity is the 1x1 kernel with ``K[o, i] = [o == i]``.

``RepConvReLU.reparameterize()`` writes the folded kernel into ``conv`` and an identity BatchNorm into ``bn`` and drops
the extra branches: the block then has exactly ``ConvReLU``'s parameters and buffers (same state-dict keys and shapes),
so a re-parameterised checkpoint loads into the plain model YAML.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from ultralytics.nn.modules import Conv


class ConvReLU(Conv):
    """Plain ``conv(k x k, stride s, no bias) -> BatchNorm -> ReLU``; YAML args ``[c2, k=3, s=1]``.

    Args:
        c1 (int): input channels.
        c2 (int): output channels.
        k (int): odd kernel size (3 in the face model), padding ``k // 2``.
        s (int): stride.

    Shapes: (B, c1, H, W) -> (B, c2, ceil(H / s), ceil(W / s)).
    """

    yaml_channels = True  # the YAML parser passes (c1, c2 * width, *rest)

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1):
        if not (isinstance(k, int) and k % 2 == 1 and k > 0):
            raise ValueError(f"{type(self).__name__}: kernel size must be a positive odd int, got {k!r}")
        if not (isinstance(s, int) and s >= 1):
            raise ValueError(f"{type(self).__name__}: stride must be a positive int, got {s!r}")
        super().__init__(c1, c2, k, s, act=nn.ReLU(inplace=True))


def _fold_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``BN(conv_kernel(x))`` as a single (kernel, bias): kernel (c2, c1, k, k), bias (c2,) (RepVGG eq. 3)."""
    std = (bn.running_var + bn.eps).sqrt()
    g = bn.weight / std
    return kernel * g.view(-1, 1, 1, 1), bn.bias - bn.running_mean * g


class RepConvReLU(ConvReLU):
    """Training-time RepVGG block that re-parameterises into ``ConvReLU(c1, c2, 3, s)``; YAML args ``[c2, 3, s]``, the
    plain block's, so the plain and the re-parameterisable YAMLs differ only in the module name.

    Attributes:
        conv, bn, act: the 3x3 branch (and, after ``reparameterize()``, the whole folded block).
        conv1x1, bn1x1: the 1x1 branch (``None`` once folded).
        bn_id: the identity branch's BatchNorm; ``None`` if ``c1 != c2`` or ``s != 1``, or once folded.

    Shapes: (B, c1, H, W) -> (B, c2, ceil(H / s), ceil(W / s)).
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1):
        if k != 3:
            raise ValueError(f"RepConvReLU folds into a 3x3 conv; kernel size must be 3, got {k!r}")
        super().__init__(c1, c2, 3, s)
        self.conv1x1 = nn.Conv2d(c1, c2, 1, s, 0, bias=False)
        self.bn1x1 = nn.BatchNorm2d(c2)
        self.bn_id = nn.BatchNorm2d(c2) if c1 == c2 and s == 1 else None

    def _add_branches(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``y`` plus the 1x1 and identity branches of ``x``; ``y`` alone once folded (no op left in the graph)."""
        if self.conv1x1 is None:
            return y
        y = y + self.bn1x1(self.conv1x1(x))
        return y + self.bn_id(x) if self.bn_id is not None else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._add_branches(self.bn(self.conv(x)), x))

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """After the stock BN fusion of the 3x3 branch (correct even if that ran before ``reparameterize()``)."""
        return self.act(self._add_branches(self.conv(x), x))

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3x3 (kernel (c2, c1, 3, 3), bias (c2,)) equal to the block's eval-mode pre-activation."""
        w = self.conv.weight
        if hasattr(self, "bn"):
            k, b = _fold_bn(w, self.bn)
        else:  # the stock fuse already folded bn into conv (bias present)
            k, b = w.clone(), self.conv.bias.clone()
        if self.conv1x1 is not None:
            k1, b1 = _fold_bn(F.pad(self.conv1x1.weight, [1, 1, 1, 1]), self.bn1x1)
            k, b = k + k1, b + b1
            if self.bn_id is not None:
                c = w.shape[0]
                eye = torch.zeros_like(w)
                eye[torch.arange(c), torch.arange(c), 1, 1] = 1.0
                k0, b0 = _fold_bn(eye, self.bn_id)
                k, b = k + k0, b + b0
        return k, b

    @torch.no_grad()
    def reparameterize(self) -> bool:
        """Fold the branches into ``conv`` (+ an identity ``bn``); True if anything changed, False if already folded."""
        if self.conv1x1 is None:
            return False
        k, b = self.equivalent_kernel_bias()
        self.conv.weight.copy_(k)
        if hasattr(self, "bn"):  # leave conv bias-free and put the bias in an identity BatchNorm: plain ConvReLU layout
            bn = self.bn
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # sqrt(var + eps) == 1
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
        else:
            self.conv.bias.copy_(b)
        self.conv1x1 = self.bn1x1 = self.bn_id = None
        return True


BLOCKS = {"ConvReLU": ConvReLU, "RepConvReLU": RepConvReLU}

__all__ = ["BLOCKS", "ConvReLU", "RepConvReLU"]
