"""Building blocks: the 1×1 convolution and the blocks built around it (NIN, Inception, ResNet,
MobileNetV2/EfficientNet)."""

from onebyone.layers.conv_norm_act import ConvNormAct
from onebyone.layers.inception import Inception, InceptionConfig
from onebyone.layers.inverted_residual import InvertedResidual
from onebyone.layers.mlpconv import MLPConv
from onebyone.layers.padding import SamePad2d, same_padding
from onebyone.layers.pointwise import Pointwise, pointwise
from onebyone.layers.pooling import (
    GlobalAvgPool,
    SpatialPyramidPool,
    caffe_avg_pool,
    caffe_max_pool,
    spp_window,
)
from onebyone.layers.residual import BasicBlock, Bottleneck
from onebyone.layers.separable import DepthwiseSeparable

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ConvNormAct",
    "DepthwiseSeparable",
    "GlobalAvgPool",
    "Inception",
    "InceptionConfig",
    "InvertedResidual",
    "MLPConv",
    "Pointwise",
    "SamePad2d",
    "SpatialPyramidPool",
    "caffe_avg_pool",
    "caffe_max_pool",
    "pointwise",
    "same_padding",
    "spp_window",
]
