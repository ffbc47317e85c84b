"""One photo as a model input: read with Pillow, converted to 1 or 3 channels, resized.

`preprocess_image` is the evaluation transform of ImageNet classifiers (shorter side resized to the
crop plus a margin, centre crop, per-channel standardisation); `predict`, `inspect` and the report
all feed photos to a network through it. `load_image` gives raw uint8 pixels at an exact size.
"""

from __future__ import annotations

import io
import math
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from onebyone.errors import OneByOneError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# Refuse a photo that would have to be enlarged more than this: beyond 4× interpolation makes up
# over 15 of every 16 pixels, and a class and probability read from such a blur mean nothing.
MAX_UPSCALE = 4.0
# No photo is fed to a network larger than this on a side: beyond it the activations (and the plots
# of them) take gigabytes, and no network here was built for such an input.
MAX_PHOTO_SIDE = 2048
# A pipe or device given as an image (`--image /dev/stdin`) is read into memory, at most this much
# (Pillow refuses more than ~179 million pixels anyway; /dev/zero would never end).
MAX_STREAM_BYTES = 256 * 2**20


def open_image(source: str | Path | PILImage, channels: int) -> PILImage:
    """A Pillow image in "L" (channels=1) or "RGB" (channels=3) from a file or a Pillow image.

    EXIF rotation is applied; transparent pixels (RGBA, LA, palette transparency) are laid on white.
    Raises OneByOneError when the file is missing or Pillow cannot read it.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if channels not in (1, 3):
        raise OneByOneError(f"the model takes {channels}-channel input; images can give 1 or 3 channels")
    try:
        if isinstance(source, Image.Image):
            image = source
        else:
            readable = _readable_image(Path(source))
            with warnings.catch_warnings():
                # Pillow only warns between MAX_IMAGE_PIXELS and twice that, then decodes anyway:
                # a small file that declares 12000×12000 pixels would take gigabytes. Refuse it.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(readable) as opened:
                    opened.load()
                    image = ImageOps.exif_transpose(opened)
        image = _eight_bit(image, source)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        return image.convert("L" if channels == 1 else "RGB")
    except OneByOneError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
    ) as exc:
        raise OneByOneError(f"cannot read image {_describe(source)}: {type(exc).__name__}: {exc}") from exc


def _eight_bit(image: PILImage, source: str | Path | PILImage) -> PILImage:
    """`image` with 8 bits per channel. Pillow's own conversion of a 16-bit grey image (mode I;16) to
    8 bits clips every value above 255, so a photo turns nearly white and is classified as such with
    exit code 0; here it is scaled (65535 → 255). A 32-bit integer or float image (modes I and F,
    from TIFF) has no known pixel range, so it is refused rather than guessed."""
    from PIL import Image

    if image.mode.startswith("I;16"):
        pixels = np.asarray(image).astype(np.float64)  # (H, W) in 0..65535
        return Image.fromarray(np.round(pixels / 257).astype(np.uint8), mode="L")
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise OneByOneError(
            f"image {_describe(source)} has {kind} pixels (mode {image.mode}), whose range is not known; "
            "save it with 8 or 16 bits per channel"
        )
    return image


def _readable_image(path: Path) -> Path | io.BytesIO:
    """What Pillow opens for `path`: a regular file as it is; a pipe, FIFO or character device
    (`--image /dev/stdin`, `<(curl …)`) read through, at most MAX_STREAM_BYTES, into memory (Pillow
    seeks, a pipe cannot); anything else refused by name."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise OneByOneError(f"image file {str(path)!r} not found") from None
    if stat.S_ISREG(mode):
        return path
    if stat.S_ISDIR(mode):
        raise OneByOneError(f"image file {str(path)!r} is a folder; name an image file")
    if not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)):
        what = "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file"
        raise OneByOneError(f"image file {str(path)!r} is {what}; name an image file, a pipe or /dev/stdin")
    data = io.BytesIO()
    with open(path, "rb") as stream:
        while chunk := stream.read(min(2**20, MAX_STREAM_BYTES + 1 - data.tell())):
            data.write(chunk)
            if data.tell() > MAX_STREAM_BYTES:
                raise OneByOneError(
                    f"image stream {str(path)!r} sends more than {MAX_STREAM_BYTES // 2**20} MiB; "
                    "no image read here is that large"
                )
    if not data.tell():
        raise OneByOneError(f"image stream {str(path)!r} sent nothing (0 bytes)")
    data.seek(0)
    return data


def load_image(path: str | Path, *, channels: int, size: tuple[int, int]) -> Tensor:
    """(1, C, H, W) uint8 from an image file, converted to `channels` (1 or 3) and resized to `size`.

    Raises OneByOneError when the file is missing or Pillow cannot read it.
    """
    from PIL import Image

    height, width = size
    image = open_image(path, channels)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)


def crop_photo(
    source: str | Path | PILImage, *, size: int | tuple[int, int], channels: int = 3, crop_padding: int = 32
) -> Tensor:
    """(1, C, H, W) uint8: a photo of any size scaled and centre-cropped to `size`, not yet normalised.

    The photo is scaled (bicubic) so that it covers (H + crop_padding) × (W + crop_padding), then the
    centre H×W is cut out: at 224 with the default padding, the shorter side becomes 256 and the crop
    keeps its central 87.5%, as in the evaluation of ImageNet classifiers (EfficientNet's included).

    Raises:
        OneByOneError: an unreadable file, or a photo so small that it would have to be enlarged more
            than MAX_UPSCALE times.
    """
    from PIL import Image

    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1 or crop_padding < 0:
        raise OneByOneError(f"bad crop size {size!r} or crop_padding {crop_padding}; expected positive sizes")
    if min(height, width) > MAX_PHOTO_SIDE or height * width > 4 * MAX_PHOTO_SIDE**2:
        raise OneByOneError(
            f"a photo is fed to a network at most {MAX_PHOTO_SIDE} pixels on its shorter side and "
            f"{4 * MAX_PHOTO_SIDE**2:,} in all; asked for {width}×{height}"
        )
    image = open_image(source, channels)
    scale = max((height + crop_padding) / image.height, (width + crop_padding) / image.width)
    if scale > MAX_UPSCALE:
        need = [math.ceil((side + crop_padding) / MAX_UPSCALE) for side in (width, height)]
        raise OneByOneError(
            f"image {_describe(source)} is {image.width}×{image.height} pixels; a {width}×{height} input "
            f"needs at least {need[0]}×{need[1]} (enlarging more than {MAX_UPSCALE:g}× would make up "
            "most of the pixels)"
        )
    resized = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(resized, Image.Resampling.BICUBIC)
    left, top = (resized[0] - width) // 2, (resized[1] - height) // 2
    image = image.crop((left, top, left + width, top + height))
    array = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0)  # (1, C, H, W)


def fit_photo(source: str | Path | PILImage, *, shorter_side: int, channels: int = 3) -> Tensor:
    """(1, C, H, W) uint8: a whole photo scaled (bicubic) so its shorter side is `shorter_side`, aspect
    kept and nothing cut off — the input for a class map over the whole photo."""
    image = open_image(source, channels)
    if shorter_side < 1:
        raise OneByOneError(f"the shorter side must be ≥ 1 pixel, got {shorter_side}")
    scale = shorter_side / min(image.width, image.height)
    height = max(shorter_side, round(image.height * scale))
    width = max(shorter_side, round(image.width * scale))
    return crop_photo(image, size=(height, width), channels=channels, crop_padding=0)


def standardise(images: Tensor, mean: float | Sequence[float], std: float | Sequence[float]) -> Tensor:
    """uint8 (N, C, H, W) → float32 scaled to [0, 1] and standardised per channel: (x − mean) / std."""
    channels = images.shape[1]
    mean_t, std_t = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    if not bool((std_t > 0).all()):
        raise OneByOneError(f"std must be > 0, got {std}")
    return (images.float() / 255.0 - mean_t[:, None, None]) / std_t[:, None, None]


def preprocess_image(
    source: str | Path | PILImage,
    *,
    size: int | tuple[int, int],
    mean: float | Sequence[float],
    std: float | Sequence[float],
    channels: int = 3,
    crop_padding: int = 32,
) -> Tensor:
    """(1, C, H, W) float32 network input from a photo of any size: `crop_photo`, then `standardise`.

    Args:
        source: an image file (any format Pillow reads; grey, palette and RGBA are converted) or a
            Pillow image.
        size: side of the square crop, or (H, W).
        mean: per-channel mean (one value for every channel, or one per channel), pixel units in [0, 1].
        std: per-channel standard deviation, same units.
        channels: 3 for RGB, 1 for grey.
        crop_padding: margin cut off around the crop; 0 resizes the photo to just cover the crop.
    """
    _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")  # bad values before reading
    photo = crop_photo(source, size=size, channels=channels, crop_padding=crop_padding)
    return standardise(photo, mean, std)


def _per_channel(value: float | Sequence[float], channels: int, what: str) -> Tensor:
    values = [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) not in (1, channels):
        raise OneByOneError(f"{what} needs 1 or {channels} values, got {len(values)}")
    return torch.tensor(values * channels if len(values) == 1 else values, dtype=torch.float32)


def _describe(source: str | Path | PILImage) -> str:
    return repr(str(source)) if isinstance(source, (str, Path)) else "(in memory)"
