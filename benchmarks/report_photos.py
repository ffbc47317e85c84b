"""What the EfficientNet-Lite0 parts of C9, C13 and C14 cost in `onebyone report` (report.photos).

Run:  python benchmarks/report_photos.py [--repeats 3] [--threads N]

Times everything the photo parts add to a report run, measured and rendered (figures included), in
the default and the --quick sizes, each from a fresh context (the network and photos loaded anew),
and, as the baseline in the same run, a bare forward pass of the network over 224×224 images in
batches of 16. The ratio says how many bare 224×224 forwards' worth of time the parts take; the
target: ≤ ~20 s for the default parts on 2 quiet cores, a few seconds in --quick. The machine is
shared, so the load average is printed with the times.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch

from onebyone.report import ReportConfig
from onebyone.report.claims import photo_localisation, sparsity
from onebyone.report.context import ReportContext
from onebyone.report.photos import COLLAGE_VIEWS, MODEL, PHOTOS, VIEWS, missing
from onebyone.timing import median_seconds


def photo_parts(quick: bool, out: str) -> None:
    settings = dict(out=out, device="cpu")
    ctx = ReportContext(ReportConfig.quick_preset(**settings) if quick else ReportConfig(**settings))
    photo_localisation.render_c9_photos(photo_localisation.measure_c9_photos(ctx), ctx)
    sparsity._photos(ctx)
    photo_localisation.render_c14_photos(photo_localisation.measure_c14_photos(ctx), ctx)


def images_224(size: str) -> int:
    """224×224 forwards the parts run: truth, C13 (every view, and the untrained control on the centre
    crops), collages (two each), fc_to_conv and the original on the centre crops, the views alone."""
    photos, views, collage_views = len(PHOTOS), VIEWS[size], COLLAGE_VIEWS[size]
    collages = photos * (photos - 1) * collage_views
    return photos + photos * views + photos + 2 * collages + 2 * photos + photos * collage_views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if (reason := missing()) is not None:
        raise SystemExit(reason.reason)
    if args.threads:
        torch.set_num_threads(args.threads)
    from onebyone.runs import open_model

    model = open_model(MODEL, {"pretrained": True}).model()
    batch = torch.randn(16, 3, 224, 224)
    with torch.no_grad():
        bare = median_seconds(lambda: model(batch), warmup=1, repeats=args.repeats) / 16  # per image
    print(f"load average {os.getloadavg()}, {torch.get_num_threads()} torch threads")
    print(f"baseline: bare forward of {MODEL}, batch 16 at 224×224: {1 / bare:.1f} images/s")
    with tempfile.TemporaryDirectory() as out:
        for size in ("quick", "default"):
            run = lambda quick=(size == "quick"): photo_parts(quick, out)  # noqa: E731
            seconds = median_seconds(run, warmup=1, repeats=args.repeats)
            count = images_224(size)
            print(
                f"{size:>7}: photo parts {seconds:.1f} s (median of {args.repeats}) for {count} 224×224 "
                f"forwards' worth ({count / seconds:.1f} images/s); {seconds / (count * bare):.2f}× the "
                "bare forward over as many images"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
