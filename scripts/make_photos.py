"""Write the photos the README's tour uses, from data that is on the machine already (no download).

    .venv/bin/python scripts/make_photos.py [FOLDER]      # default: the current folder

cat.png: scikit-image's bundled photo of Chelsea the cat (451×300); pair.png: the cat (left) beside
scikit-image's cup of coffee (right), 800×300, the two-object scene `inspect dense` reads; shirt.png:
the first Fashion-MNIST test image (28×28, grey; an ankle boot, whatever its name says).
"""

from __future__ import annotations

import sys
from pathlib import Path


def make_photos(folder: Path) -> list[Path]:
    import numpy as np
    from PIL import Image
    from skimage import data

    from onebyone.data import load_fashion_mnist

    folder.mkdir(parents=True, exist_ok=True)
    cat, coffee = data.chelsea(), data.coffee()
    pair = np.concatenate([cat[:300, :400], coffee[50:350, 100:500]], axis=1)  # cat left, coffee right
    shirt = load_fashion_mnist("test").images[0, 0].numpy()
    written = []
    for name, pixels in (("cat.png", cat), ("pair.png", pair), ("shirt.png", shirt)):
        Image.fromarray(pixels).save(folder / name)
        written.append(folder / name)
    return written


if __name__ == "__main__":
    for path in make_photos(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(f"wrote {path}")
