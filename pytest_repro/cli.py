"""``python -m pytest_repro`` (also ``pytest-repro``): the suite, checkpoints and cross-run compare."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .settings import argtype, number

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def run_suite(pytest_args: list[str]) -> int:
    """Run the bundled suite against the checkout's golden/ and print the drift table."""
    import subprocess

    if not (CHECKOUT / "golden").is_dir():
        print(
            f"pytest-repro: the bundled suite's goldens live in the project checkout, not beside {PACKAGE}.\n"
            "Clone the project and install it editable: pip install -e '.[diffusers]'",
            file=sys.stderr,
        )
        return 4
    args = [str(PACKAGE / "suite"), f"--rootdir={CHECKOUT}", "-p", "no:cacheprovider", *pytest_args]
    # A child process: pytest must import pytest_repro itself (assertion rewriting, fresh RNG state).
    return subprocess.call([sys.executable, "-m", "pytest", *args])


def make_checkpoints(root: Path) -> int:
    from .suite.checkpoints import write_checkpoints

    for folder in write_checkpoints(root):
        print(f"wrote {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    suite = sub.add_parser("suite", help="run the bundled reproducibility suite; extra args go to pytest")
    suite.add_argument("pytest_args", nargs=argparse.REMAINDER)
    ckpt = sub.add_parser("make-checkpoints", help="write the tiny checkpoints the suite loads")
    ckpt.add_argument("--root", type=Path, default=PACKAGE / "suite" / "checkpoints")
    cmp = sub.add_parser("compare", help="gate the same checks across --repro-report JSON files of many runners")
    cmp.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json",
                     help="two or more reports; the last is the reference unless --reference names one")
    cmp.add_argument("--reference", type=Path, default=None, help="the report the others are compared with")
    cmp.add_argument("--atol", type=argtype(number, "number"), default=None,
                     help="L_inf limit (default: each check's own tolerance)")
    cmp.add_argument("--cosine", type=argtype(number, "number"), default=None,
                     help="cosine distance limit (default: each check's own cosine)")
    cmp.add_argument("--strict", action="store_true", help="fail a check that a runner or the reference lacks")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["suite"]:  # everything after "suite" belongs to pytest, options included
        return run_suite(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "make-checkpoints":
        return make_checkpoints(args.root)
    from .compare_runs import compare_reports

    return compare_reports(args.reports, args.atol, args.cosine, strict=args.strict, reference=args.reference)


if __name__ == "__main__":
    sys.exit(main())
