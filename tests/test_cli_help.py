"""--help of every command shows the defaults of the options that take a value (cli.DefaultsFormatter)."""

from __future__ import annotations

import argparse

from onebyone.cli import DefaultsFormatter, build_parser
from onebyone.train import TrainConfig


def _commands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _commands(sub, f"{prefix}{name} ")


def test_every_option_with_a_default_shows_it_in_help():
    missing = []
    for name, parser in _commands(build_parser()):
        assert parser.formatter_class is DefaultsFormatter, name
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            shown = DefaultsFormatter._shown(action)
            if (
                shown is not None
                and f"(default: {shown}" not in text
                and "default" not in (action.help or "")
            ):
                missing.append(f"{name} {action.option_strings[0]} ({shown!r})")
    assert not missing, missing


def test_train_help_shows_the_recipe_defaults():
    train = dict(_commands(build_parser()))["train"]
    text = " ".join(train.format_help().split())
    recipe = TrainConfig()
    for flag, value in [
        ("--epochs EPOCHS", recipe.epochs),
        ("--lr LR", recipe.lr),
        ("--seed SEED", recipe.seed),
    ]:
        assert f"{flag}" in text and f"(default: {value})" in text.rsplit(flag, 1)[1][:60], flag
    assert "--no-augment (default" not in text  # a flag: off unless given
