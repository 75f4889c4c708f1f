"""The session's ledger: gathers every check's result (xdist workers' too) and writes the views at the end.

Controller only: the JSON report, the HTML page, the step summary, the exit status, unused goldens.
Imports pytest and the standard library only.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import settings as st
from .pipelines import PIPELINES_KEY

if TYPE_CHECKING:  # imported where used: a session whose tests make no check never needs them
    from .results import CheckResult, RunReport

PROPERTY = "repro"  # the user property each check's JSON result rides on (xdist, JUnit)
SETTINGS_KEY = pytest.StashKey[st.Settings]()


class ReproLedger:
    """Collects check results for the session and renders the views of them at the end."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: list[CheckResult] = []
        self.written: list[str] = []  # what the views wrote, said in the terminal summary
        self.nodeids: set[str] = set()  # every test that reported (under xdist too): who owns which golden
        self.failed: set[str] = set()  # failed or skipped: a test that didn't finish keeps all its goldens
        self.skipped_collections: set[str] = set()  # modules/classes skipped at collection keep theirs too

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.skipped_collections.add(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.nodeids.add(report.nodeid)
        if report.failed or report.skipped:  # a skipped test made no checks, and its goldens are still wanted
            self.failed.add(report.nodeid)
        # Results travel on the report's user_properties, so xdist brings workers' results home too.
        texts = [text for key, text in report.user_properties if key == PROPERTY] if report.when == "teardown" else []
        if texts:
            from .results import CheckResult

            self.results.extend(CheckResult.from_json(json.loads(str(text))) for text in texts)

    def report(self) -> RunReport:
        from . import __version__
        from .environment import environment
        from .results import RunReport

        settings = self.config.stash[SETTINGS_KEY]
        as_json = dataclasses.asdict(settings)
        as_json["replay"] = f"{os.environ.get('PYTEST_REPRO_COMMAND', 'pytest')} {settings.replay_flags()}"
        return RunReport(self.results, as_json, environment(), f"pytest-repro {__version__}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):  # an xdist worker: the controller writes the report
            return
        # A failed check fails the run, even one recorded where no test report could carry it.
        if session.exitstatus == pytest.ExitCode.OK and any(r.status.fails_run for r in self.results):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        settings = self.config.stash[SETTINGS_KEY]
        if settings.report:
            self.report().write(Path(settings.report))
        self.write_views(settings)
        self.unused_goldens(settings)

    def unused_goldens(self, settings: st.Settings) -> None:
        """Goldens no test used: listed after a whole run, deleted with --repro-prune (never on a partial one)."""
        if not settings.in_use or not self.nodeids:
            return
        from .prune import delete, session_unused

        unused, partial = session_unused(self.config, Path(settings.golden_dir), settings.backends, self.nodeids,
                                         self.failed, self.results, frozenset(self.skipped_collections))
        if partial is not None:
            if settings.prune:
                self.written.append(f"repro: --repro-prune deleted nothing: {partial}; prune after a run over "
                                    "whole folders")
            return
        lines = unused.lines(self.config.rootpath)
        if settings.prune and unused:
            delete(unused)
            self.written += [f"repro: pruned {len(lines)} unused golden(s):", *(f"  {line}" for line in lines)]
        elif unused:
            self.written += [f"repro: {len(lines)} unused golden(s); --repro-prune deletes them:",
                             *(f"  {line}" for line in lines)]

    def _shown(self, path: str) -> str:
        """A path as the summary prints it: relative to the rootdir where it lies under it."""
        try:
            return str(Path(path).relative_to(self.config.rootpath))
        except ValueError:
            return path

    def write_views(self, settings: st.Settings) -> None:
        """The HTML report (from the JSON just written) and the CI step summary: once, by the controller."""
        if settings.html and settings.report:
            from .report.html import write_html

            try:
                page = write_html([Path(settings.report)], Path(settings.html))
                self.written.append(f"repro: HTML report in {self._shown(settings.html)} ({page.counts})")
            except (OSError, ValueError) as exc:
                self.written.append(f"repro: could not write the HTML report {settings.html}: {exc}")
        if self.results and os.environ.get("GITHUB_STEP_SUMMARY"):
            from .report.markdown import append_step_summary

            try:
                target = append_step_summary(self.report(), Path(settings.report or "this run").name,
                                             self._shown(settings.html) if settings.html else None)
                self.written.append(f"repro: drift table appended to {target} ($GITHUB_STEP_SUMMARY)")
            except OSError as exc:
                self.written.append(f"repro: could not append to $GITHUB_STEP_SUMMARY: {exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results:
            from .report.terminal import write_summary

            write_summary(terminalreporter, self.config.stash[SETTINGS_KEY], self.report())
        for line in self.written:
            terminalreporter.write_line(line)
        cache = self.config.stash.get(PIPELINES_KEY, None)
        saving = cache.summary_line() if cache is not None else None
        if saving:
            terminalreporter.write_line(saving)
