# SPDX-License-Identifier: GPL-2.0-only
"""Run the pcilu CLI in-process, the way a shell would, and state the expected exit code.

Like black's ``invokeBlack``: every CLI test says which exit code it expects, and the helper
checks that no traceback leaked and that a failure's stderr is one ``pcilu: error:`` line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from pcilu_cli.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json
        return json.loads(self.stdout)


def run(args, exit_code: int | None = 0, input=None, env=None) -> Result:
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as streams:
        out, err = streams[0], streams[1]
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    res = Result(code, stdout, stderr)
    assert "Traceback" not in stdout + stderr, stdout + stderr
    if exit_code is not None:
        assert code == exit_code, f"exit {code}, expected {exit_code}\n{stdout}\n{stderr}"
    if code == 2:
        assert "Error:" in stderr or "pcilu: error:" in stderr, stderr   # click's or ours
    elif code not in (0, 6) and exit_code is not None:
        errors = [ln for ln in stderr.splitlines() if ln.startswith("pcilu: error:")]
        assert len(errors) == 1, stderr
    return res


ROOT = Path(__file__).resolve().parents[1]


def child_env(**extra) -> dict:
    """The environment of a child ``python -m pcilu_cli``: this checkout's package first,
    whatever the child's working directory (and no PCILU_DEBUG tracebacks)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in
                                         env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("PCILU_DEBUG", None)
    return env
