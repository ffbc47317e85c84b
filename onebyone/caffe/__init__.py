"""Caffe networks as they were published: .prototxt definitions and .caffemodel weights, without Caffe.

`read_prototxt(path)` reads a net definition (protobuf text format, parsed here), `build(definition)`
makes it an nn.Module whose submodules keep the Caffe layer names, and `load_caffemodel(module, path)`
copies the weights of a binary .caffemodel into it (read by onebyone's own protobuf wire reader).
What each layer type computes, and each of Caffe's quirks: docs/caffe.md.
"""

from onebyone.caffe.build import CaffeNet, build
from onebyone.caffe.net import LayerDef, NetDefinition, parse_prototxt, read_prototxt
from onebyone.caffe.weights import LoadResult, index_caffemodel, load_caffemodel

__all__ = [
    "CaffeNet",
    "LayerDef",
    "LoadResult",
    "NetDefinition",
    "build",
    "index_caffemodel",
    "load_caffemodel",
    "parse_prototxt",
    "read_prototxt",
]
