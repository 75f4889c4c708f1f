"""``--repro-report ../out.json`` (space form) must find the same rootdir as ``--repro-report=../out.json``.

pytest decides the rootdir and reads the ini file before it loads plugins from entry points, so at
that moment ``--repro-report`` is an unknown option and the path after it looks like a test path: once
that file exists, it drags the rootdir (and the ini file) to its folder. Once the plugin's options are
known, :func:`reclaim` takes those values back out and, when they moved the rootdir, puts pytest's
rootdir, ini file and ``addopts`` where they would have been. This leans on private ``Config``
attributes; where they are missing, the user gets a usage error saying to write ``--repro-x=PATH``.
"""

from __future__ import annotations

from typing import Any

import pytest

PATH_OPTIONS = ("--repro-report", "--repro-golden-dir", "--repro-html", "--repro-obtained")


def claimed_values(args: list[str]) -> list[str]:
    """The values given to path options in the space form (``--repro-report PATH``)."""
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in PATH_OPTIONS]


def reclaim(config: pytest.Config, args: list[str]) -> None:
    claimed = claimed_values(args)
    if not claimed:
        return
    from _pytest.config.findpaths import determine_setup

    ns = config.known_args_namespace
    # Parsed again with the plugin's options, file_or_dir no longer holds the claimed values: it is
    # what pytest would have chosen the rootdir from, had it known them.
    try:
        rootpath, inipath, inicfg, *_ = determine_setup(
            inifile=ns.inifilename, override_ini=ns.override_ini, args=list(ns.file_or_dir),
            rootdir_cmd_arg=ns.rootdir or None, invocation_dir=config.invocation_params.dir,
        )
    except TypeError:  # another pytest's signature: don't guess
        rootpath, inipath, inicfg = config.rootpath, config.inipath, None
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    fix = f"write {' '.join(f'{o}=PATH' for o in PATH_OPTIONS if o in args)} (with '=')"
    if inicfg is None or not hasattr(config, "_inicfg") or config.inipath is not None:
        # pytest already applied the wrong ini file's addopts and settings: too late to undo.
        raise pytest.UsageError(
            f"pytest took {', '.join(claimed)} for a test path and chose the rootdir {config.rootpath} "
            f"instead of {rootpath} before pytest-repro was loaded; {fix}")
    wrong_root = config.rootpath
    config._rootpath = rootpath
    config._inipath = inipath
    config._inicfg = inicfg
    config._inicache.clear()
    if str(ns.confcutdir) == str(wrong_root):  # pytest's default, computed from the wrong rootdir
        ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    addopts: Any = config.getini("addopts")
    if addopts:  # the right ini file's addopts, which pytest read from the wrong place (none)
        args[:0] = list(addopts)
