"""Command line: `python -m unlearn {info,datasets,check-data,teach,run,audit,import,export,...} ...`.

With --json the last line printed is one JSON object, for scripts and checks.
"""

from __future__ import annotations

import sys

from unlearn.cli.parser import build_parser
from unlearn.model.models import ModelLoadError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was typed, for commands that hand it on (audit --ray)
    try:
        return args.fn(args)
    except (ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
