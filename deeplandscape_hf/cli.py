"""``deeplandscape`` command line: generate, animate, convert-official, evaluate, calibrate-styles.

Each subcommand lives in ``deeplandscape_hf/commands/<name>.py`` and exposes ``add_parser(subparsers)`` (which sets
``func``); heavy imports happen inside the command, so ``deeplandscape --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

COMMANDS = ("generate", "animate", "convert_official", "evaluate", "calibrate_styles")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deeplandscape",
        description="DeepLandscape: landscape video GAN. Generate synthetic videos, animate a photo, convert the "
        "authors' checkpoints, evaluate results.",
    )
    parser.add_argument("--version", action="version", version=f"deeplandscape-hf {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).add_parser(subparsers)
    return parser


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Ends an option's help with its default, unless the help already says what the default is, or there is no
    value to name: None (the model's or the photo's own) or a flag (it is off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0 or "default" in (action.help or "").lower():
            return action.help
        return super()._get_help_string(action)


class CommandError(Exception):
    """An error whose message is meant for the user: printed without a traceback, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .networks.synthetic import tune_cpu_allocator

    tune_cpu_allocator()  # process-wide, so only entry points call it
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CommandError, ValueError, FileNotFoundError, PermissionError, OSError) as error:
        print(f"deeplandscape {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
