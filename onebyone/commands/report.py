"""`onebyone report`: measure every claim (C1–C15) and write report.html, report.md and report.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from onebyone.errors import OneByOneError
from onebyone.files import check_output_file, check_writable_folder
from onebyone.progress import add_progress_argument, progress_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="reproduce every claim about 1x1 convolutions, with measurements (the main job)",
        description="Measure each claim of the articles about 1x1 convolutions (C1-C15) on this "
        "machine: exact counts from the profiler, latencies, and networks trained on Fashion-MNIST "
        "(cached in OUT/models and reused). Every verdict that rests on training or timing is decided "
        "from a 95% interval over seeds or timing rounds. Writes OUT/report.html (self-contained), "
        "OUT/report.md and OUT/report.json. The default run takes about 6 minutes on 2 CPU cores; "
        "--quick under 1.",
    )
    parser.add_argument(
        "--out", metavar="DIR", default="onebyone-report", help="output folder (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="two seeds, small subsets, quarter-width models (< 1 minute)"
    )
    parser.add_argument(
        "--list-claims",
        action="store_true",
        help="print the claims and the rule that decides each part (Markdown), and measure nothing",
    )
    parser.add_argument("--only", metavar="IDS", help="comma-separated claims to measure, e.g. C6,C8,C10")
    parser.add_argument(
        "--seeds",
        metavar="N|LIST",
        help="a count N (seeds 0..N-1) or a list like 3,4,5: 1 to 64 distinct seeds from 0 to 2**63-1 "
        "(default 4; quick 2): every trained variant is trained once per seed, and intervals are taken "
        "over the seeds",
    )
    parser.add_argument("--epochs", type=int, help="epochs per trained model (default 15; quick 4)")
    parser.add_argument("--subset", type=int, metavar="N", help="training images per model (default 2000)")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "auto"],
        help="where to train and time (default auto: a GPU when one is present)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes that train models side by side (default: one per CPU core, at most 4; 1 on a GPU)",
    )
    parser.add_argument("--data-dir", metavar="DIR", help="folder with Fashion-MNIST's four IDX files")
    add_progress_argument(parser)
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="what to print when done: a summary, or the report as JSON",
    )
    parser.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from onebyone.report import ReportConfig, parse_seeds

    changes = {"out": args.out, "data_dir": args.data_dir}
    for name, field in (
        ("epochs", "epochs"),
        ("subset", "train_subset"),
        ("device", "device"),
        ("workers", "workers"),
    ):
        if getattr(args, name) is not None:
            changes[field] = getattr(args, name)
    if args.seeds is not None:
        changes["seeds"] = parse_seeds(args.seeds)
    config = ReportConfig.quick_preset(**changes) if args.quick else ReportConfig(**changes)
    return config.validate()


def _only(text: str | None) -> list[str] | None:
    from onebyone.report import claims_in_order

    if text is None:
        return None
    known = [claim.id for claim in claims_in_order()]
    wanted = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise OneByOneError(
            f"--only: unknown claim(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
        )
    return wanted


def run(args: argparse.Namespace) -> int:
    from onebyone.report import build_report, write_html, write_json, write_markdown

    if args.list_claims:
        from onebyone.report.listing import claims_markdown

        measuring = {"out": "onebyone-report", "quick": False, "only": None, "seeds": None, "epochs": None,
                     "subset": None, "device": None, "workers": None, "data_dir": None, "progress": None,
                     "format": "text"}  # fmt: skip
        given = [
            "--no-progress" if name == "progress" else f"--{name.replace('_', '-')}"
            for name, default in measuring.items()
            if getattr(args, name) != default
        ]
        if given:
            raise OneByOneError(f"--list-claims measures nothing: {', '.join(given)} does not apply to it")

        print(claims_markdown())
        return 0
    config, only = _config(args), _only(args.only)
    if args.data_dir is not None and not Path(args.data_dir).is_dir():  # claims that train read it late
        raise OneByOneError(f"--data-dir: data folder {args.data_dir!r} not found")
    out = check_writable_folder(config.out)  # before minutes of measuring
    from onebyone.runs import run_format

    kind = run_format(out)
    if kind is not None:  # report.html, figures/ and models/ would land among a run's files
        raise OneByOneError(f"--out {str(out)!r} is a run folder ({kind.description}); choose another --out")
    for name in ("report.html", "report.md", "report.json") if out.is_dir() else ():
        check_output_file(out / name)  # e.g. not a folder left where report.html goes
    from onebyone.report import claims_in_order

    total = len(only) if only else len(claims_in_order())
    with progress_for(args, "report", total=total) as progress:
        state = {"claim": ""}

        def on_start(claim_id: str, title: str) -> None:
            if state["claim"]:
                progress.advance(0, whole=1)
            state["claim"] = f"{claim_id} {title}"
            progress.stage(f"measuring {state['claim']}")

        def status(message: str) -> None:  # a training, a batch of trainings, a step of a claim
            prefix = f"{state['claim']}: " if state["claim"] else ""
            if progress.live:
                progress.detail(prefix + message)
            else:
                progress.stage(prefix + message)

        report = build_report(config, only=only, on_start=on_start, status=status)
    html_path = write_html(report, out / "report.html")
    markdown_path = write_markdown(report, out / "report.md")
    json_path = write_json(report, out / "report.json")
    if args.format == "json":
        print(json_path.read_text(), end="")
        return 0
    from rich.console import Console

    from onebyone.tables import Column, print_table

    console = Console()
    columns = [
        Column("claim", "left", 9),
        Column("verdict", "left", 8, "text"),
        Column("why", "left", 7, "text"),
    ]
    rows = [[claim.id, claim.verdict, claim.reason] for claim in report.claims]
    print_table(
        console, f"onebyone report ({report.seconds:.0f} s, {report.machine['device']})", columns, rows
    )
    console.print(f"HTML: {html_path}\nMarkdown: {markdown_path}\nJSON: {json_path}")
    return 0
