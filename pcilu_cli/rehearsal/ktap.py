# SPDX-License-Identifier: GPL-2.0-only
"""KTAP version 1 output (Documentation/dev-tools/ktap.rst), as kselftest and KUnit print it.

A :class:`Test` is a name, a verdict (``ok``/``not ok``, or skipped: ``# SKIP reason``),
diagnostic lines (``# ...``, printed before its result line) and subtests. A test with subtests
prints them first — indented two spaces a level, from their own ``KTAP version 1`` line and
``1..N`` plan (with a ``# Subtest: NAME`` line between the two, as KUnit prints it) — then its
own result line. Names never carry ``#`` (it starts a directive); newlines are folded.

Views built on it: ``rehearse --ktap`` (one test per scenario, its steps as subtests) and
``verify --ktap`` (one test per device, its compared fields as subtests, and the kernel log).
"""
from __future__ import annotations

from dataclasses import dataclass, field

INDENT = "  "


@dataclass
class Test:
    name: str
    ok: bool = True
    skip: str | None = None            # a reason: the test is skipped
    diagnostics: list = field(default_factory=list)
    subtests: list = field(default_factory=list)


def _clean(text: str) -> str:
    return " ".join(str(text).replace("#", "-").split())


def _lines(tests: list, depth: int, name: str | None) -> list[str]:
    pad = INDENT * depth
    out = [f"{pad}KTAP version 1"]
    if name is not None:
        out.append(f"{pad}# Subtest: {_clean(name)}")
    out.append(f"{pad}1..{len(tests)}")
    for i, t in enumerate(tests, 1):
        if t.subtests:
            out.extend(_lines(t.subtests, depth + 1, t.name))
        out.extend(f"{pad}# {' '.join(str(d).split())}" for d in t.diagnostics)
        line = f"{pad}{'ok' if t.ok or t.skip is not None else 'not ok'} {i} {_clean(t.name)}"
        if t.skip is not None:
            line += f" # SKIP {_clean(t.skip)}" if t.skip else " # SKIP"
        out.append(line)
    return out


def render(tests: list, *, summary: str | None = None) -> str:
    """The whole KTAP document; ``summary`` becomes a last diagnostic line."""
    out = _lines(tests, 0, None)
    if summary:
        out.append(f"# {summary}")
    return "\n".join(out) + "\n"


# ---- rehearse ------------------------------------------------------------------------------

def scenario_test(res) -> Test:
    """One scenario: its steps as subtests. A step fails when the kernel refused or panicked
    unexpectedly, or when one of its expectations does not hold; a step that did not run
    (after a panic, or --fail-fast) is skipped, and so are its expectations."""
    steps = []
    for s in res.steps:
        t = Test(s.step.label)
        if s.status == "skipped":
            t.skip = s.message or "step did not run"
            if s.step.expect:
                t.diagnostics.append(f"{len(s.step.expect)} expectations skipped")
        else:
            if s.error:
                t.ok = False
                t.diagnostics.append(s.error)
            for c in s.checks:
                if c.ok:
                    t.diagnostics.append(f"ok: {c.expectation.text}")
                else:
                    t.ok = False
                    t.diagnostics.append(f"FAIL: {c.message} (line {c.expectation.line})")
        steps.append(t)
    top = Test(res.scenario.name, ok=res.passed, subtests=steps)
    if not steps:
        top.skip = "no steps"
    top.diagnostics.append(f"{res.scenario.path}")
    return top


def summary(results) -> str:
    """``N passed, N failed`` (``, N skipped`` when any scenario has no step that ran)."""
    skipped = sum(1 for r in results if not any(s.status != "skipped" for s in r.steps)
                  and r.passed)
    passed = sum(1 for r in results if r.passed) - skipped
    failed = sum(1 for r in results if not r.passed)
    return f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")


def rehearse_ktap(results) -> str:
    return render([scenario_test(r) for r in results], summary=summary(results))


# ---- verify --------------------------------------------------------------------------------

def verify_ktap(doc: dict) -> str:
    """One test per device (its fields as subtests) and one for the kernel log (a subtest per
    predicted line)."""
    from pcilu_cli.rehearsal.verify import FIELDS
    by_dev: dict = {}
    for kind in ("divergences", "unmodelled", "not_compared"):
        for d in doc[kind]:
            if d.get("device") and d["field"] != "log":
                by_dev.setdefault(d["device"], []).append((kind, d))
    tests = []
    for dev in doc.get("compared_devices", sorted(by_dev)):
        sub = []
        notes = by_dev.get(dev, [])
        for fld in FIELDS:
            t = Test(fld)
            for kind, d in notes:
                if d["field"] != fld:
                    continue
                if kind == "divergences":
                    t.ok = False
                    t.diagnostics.append(d["message"])
                else:
                    t.skip = d["reason"]
            sub.append(t)
        tests.append(Test(dev, ok=all(t.ok for t in sub), subtests=sub))
    log = doc["log"]
    lt = Test("kernel log")
    if not log.get("compared"):
        lt.skip = log.get("reason", "not compared")
    else:
        missing = list(log["missing"])
        for d in doc["divergences"]:
            if d["field"] == "log":
                lt.ok = False
                lt.diagnostics.append(d["message"])
        lt.diagnostics.append(f"{log['matched']} of {log['predicted']} predicted lines found"
                              + (f", {len(missing)} missing" if missing else ""))
    tests.append(lt)
    n_div = len(doc["divergences"])
    return render(tests, summary=f"{n_div} divergences, {len(doc['unmodelled'])} unmodelled")


__all__ = ["Test", "render", "scenario_test", "summary", "rehearse_ktap", "verify_ktap"]
