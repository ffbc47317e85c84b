"""One image file as a model input: read with Pillow, converted to 1 or 3 channels, resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from onebyone.errors import OneByOneError


def load_image(path: str | Path, *, channels: int, size: tuple[int, int]) -> Tensor:
    """(1, C, H, W) uint8 from an image file, converted to `channels` (1 or 3) and resized to `size`.

    Raises OneByOneError when the file is missing or Pillow cannot read it.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise OneByOneError(f"image file {str(path)!r} not found")
    if channels not in (1, 3):
        raise OneByOneError(f"the model takes {channels}-channel input; images can give 1 or 3 channels")
    height, width = size
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise OneByOneError(f"cannot read image {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)
