# SPDX-License-Identifier: GPL-2.0-only
"""Shared body of the atheris harnesses: run one fuzz input through a set of fuzz targets.

Usage from a harness file::

    from harness import run_harness
    run_harness("inspect")          # a key of targetlib.HARNESSES

Every input is given to each of the harness's targets' pcilu command (in-process); the only outcomes
allowed are those ``targetlib.check_outcome`` allows — i.e. decoders may only fail with a
``pcilu_cli.errors.PcIluError`` (mapped to its documented exit code), never with any other
exception. A violation raises AssertionError, which atheris reports as a crash and saves as
``crash-<sha1>``; re-run it with ``python fuzz/fuzz_<name>.py crash-<sha1>``.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

# Command modules the CLI imports lazily; importing them under instrumentation gives atheris
# coverage feedback from the decoders they call.
CLI_MODULES = ["cmd_inspect", "cmd_image", "cmd_fabric", "cmd_kernel", "cmd_rehearse"]


def instrumented_imports():
    import atheris
    with atheris.instrument_imports(include=["pcilu_cli"]):
        importlib.import_module("pcilu_cli.cli")
        for m in CLI_MODULES:
            try:
                importlib.import_module(f"pcilu_cli.cli.{m}")
            except ImportError:
                pass
        for pkg in ("pcilu_cli.abi.pci", "pcilu_cli.abi.luo", "pcilu_cli.memory",
                    "pcilu_cli.fabric", "pcilu_cli.kernel", "pcilu_cli.state"):
            try:
                importlib.import_module(pkg)
            except ImportError:
                pass


def run_harness(name, argv=None):
    import atheris
    instrumented_imports()
    import targetlib as T
    targets = [T.TARGETS[n] for n in T.HARNESSES[name]["run"]]
    for t in targets:
        if t.call is not None:
            continue
        probe = T.run_cli(t.command(os.path.join(HERE, "nonexistent-input")))
        if b"not implemented yet" in probe.stderr:
            sys.exit(f"fuzz_{name}: `pcilu {t.argv[0]}` is not implemented yet")
    workdir = tempfile.mkdtemp(prefix="pcilu-fuzz-")

    def TestOneInput(data: bytes):
        for t in targets:
            T.run_input(t, data, workdir)

    atheris.Setup(sys.argv if argv is None else argv, TestOneInput)
    atheris.Fuzz()
