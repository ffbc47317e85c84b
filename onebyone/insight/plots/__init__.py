"""PNG renderings of what `onebyone.insight` measures (matplotlib, Agg backend).

Every function writes one PNG and returns its path. Images are drawn with pixel centres at integer
coordinates, and maps are placed on them with their `MapGeometry`, so a cell appears over the input
pixels it is centred on rather than stretched over the whole image.
"""

from onebyone.insight.plots.dense import plot_class_map, plot_photo_class_map
from onebyone.insight.plots.localisation import plot_box, plot_cam
from onebyone.insight.plots.maps import plot_feature_maps, plot_sparsity

__all__ = [
    "plot_box",
    "plot_cam",
    "plot_class_map",
    "plot_feature_maps",
    "plot_photo_class_map",
    "plot_sparsity",
]
