"""``python -m pytest_repro`` (also ``pytest-repro``): the suite, checkpoints, cross-run compare and the views."""

from __future__ import annotations

import argparse
import os
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
    # The header's replay line names this command: plain `pytest` in a checkout runs tests/, not the suite.
    env = {**os.environ, "PYTEST_REPRO_COMMAND": "python -m pytest_repro suite"}
    return subprocess.call([sys.executable, "-m", "pytest", *args], env=env)


def make_checkpoints(root: Path) -> int:
    from .suite.checkpoints import write_checkpoints

    for folder in write_checkpoints(root):
        print(f"wrote {folder}")
    return 0


def _refused(command: str, exc: ValueError | OSError, out: Path | None) -> int:
    """A view that can't be made: a report that can't be read (ValueError) or an output that can't be
    written (OSError), in one line on stderr; exit 2."""
    what = f"can't write {out}: {exc}" if isinstance(exc, OSError) else str(exc)
    print(f"pytest-repro {command}: {what}", file=sys.stderr)
    return 2


def render_html(reports: list[Path], out: Path | None, golden_dir: Path | None) -> int:
    """The HTML report of one or more JSON reports; exit 2 when one can't be read."""
    from .report.html import write_html

    out = out or reports[0].with_suffix(".html")
    try:
        page = write_html(reports, out, golden_dir)
    except (ValueError, OSError) as exc:
        return _refused("html", exc, out)
    print(f"wrote {out} ({page.counts})")
    return 0


def render_markdown(reports: list[Path], out: Path | None, html: str | None, link: str | None) -> int:
    """The Markdown drift table of one or more JSON reports, to stdout or a file; exit 2 on a bad report."""
    from .report.markdown import markdown_of

    try:
        text = markdown_of(reports, html, link)
        if out is not None:
            out.write_text(text, encoding="utf-8")
    except (ValueError, OSError) as exc:
        return _refused("markdown", exc, out)
    if out is None:
        sys.stdout.write(text)
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
    cmp.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                     help='append the matrix as Markdown here (in CI: "$GITHUB_STEP_SUMMARY")')
    cmp.add_argument("--html", type=Path, default=None, metavar="OUT.html",
                     help="write the HTML report of every runner's checks (golden, output, difference)")
    acc = sub.add_parser("accept", help="apply golden entries a runner obtained (--repro-obtained=DIR) to golden/")
    acc.add_argument("obtained", type=Path, metavar="DIR")
    acc.add_argument("--golden-dir", type=Path, default=Path("golden"), help="where the goldens live (golden)")
    acc.add_argument("-k", "--test", action="append", default=[], metavar="TEXT",
                     help="only tests whose id contains TEXT (repeatable)")
    acc.add_argument("--backend", action="append", default=[], metavar="KEY",
                     help="only entries of this backend, e.g. torch-ascend (repeatable)")
    acc.add_argument("--dry-run", action="store_true", help="say what would be accepted, write nothing")
    mig = sub.add_parser("migrate", help="show how each expected_slice / abs-sum assertion of a test file moves "
                                         "onto a golden (expect_slice, expect_sum)")
    mig.add_argument("files", nargs="+", type=Path, metavar="TEST_FILE.py")
    html = sub.add_parser("html", help="render the HTML report (golden, output, difference) of JSON reports")
    html.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    html.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.html",
                      help="where to write it (default: the first report's name with .html)")
    html.add_argument("--golden-dir", type=Path, default=None, metavar="DIR",
                      help="look for goldens here (a checkout's golden/) when the recorded paths don't exist")
    md = sub.add_parser("markdown", help="print the Markdown drift table of JSON reports (for $GITHUB_STEP_SUMMARY)")
    md.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    md.add_argument("-o", "--output", type=Path, default=None, metavar="OUT.md", help="write it here, not to stdout")
    md.add_argument("--html", default=None, metavar="PATH", help="where the HTML report is (named in the summary)")
    md.add_argument("--link", default=None, metavar="URL",
                    help="a link to the HTML report (default with --html on GitHub Actions: this run's page)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["suite"]:  # everything after "suite" belongs to pytest, options included
        return run_suite(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "make-checkpoints":
        return make_checkpoints(args.root)
    if args.command == "migrate":
        from .migrate import migrate

        return max(migrate(path) for path in args.files)
    if args.command == "accept":
        from .accept import accept

        return accept(args.obtained, args.golden_dir, args.test, args.backend, args.dry_run)
    if args.command == "html":
        return render_html(list(dict.fromkeys(args.reports)), args.output, args.golden_dir)
    if args.command == "markdown":
        from .report.markdown import run_link

        return render_markdown(list(dict.fromkeys(args.reports)), args.output, args.html,
                               args.link or (run_link() if args.html else None))
    from .compare_runs import compare_reports

    return compare_reports(args.reports, args.atol, args.cosine, strict=args.strict, reference=args.reference,
                           markdown=args.markdown, html=args.html)


if __name__ == "__main__":
    sys.exit(main())
