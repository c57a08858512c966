# SPDX-License-Identifier: GPL-2.0-only
"""Views of a :class:`RunResult`: the ``--json`` document, JUnit XML, and the human report.

JSON (``{"kind": "rehearsal", ...}``) and JUnit are built from plain data; rich is imported
only inside :func:`render` (the human path), so CI calls with ``--json``/``--junit`` skip it.

JUnit: one ``<testsuite>`` per scenario; one ``<testcase>`` per step (named ``step N
(title)``: it fails with ``<error>`` when the kernel refused or panicked unexpectedly) and one
per expectation (``step N (title): expectation``, ``<failure>`` when it does not hold).
Skipped steps and their expectations are ``<skipped>``. Attributes follow the common
(Jenkins/Ant) schema: testsuite name/tests/failures/errors/skipped/time, testcase
name/classname/time, failure/error message/type.
"""
from __future__ import annotations


def to_json(res) -> dict:
    sc = res.scenario
    c = res.counts()
    fails = res.failures
    return {
        "kind": "rehearsal", "scenario": sc.path, "name": sc.name,
        "description": sc.description, "fabric": sc.fabric_ref, "profile": sc.profile,
        "cmdline": sc.cmdline, "passed": not fails, **c,
        "first_failure": fails[0] if fails else None, "failures": fails,
        "seconds": round(res.seconds, 6),
        "generations": res.generations,
        "findings": findings(res),
        "steps": [_step_json(s) for s in res.steps],
    }


def findings(res) -> list:
    """What the simulated kernels did that the real kernel gets wrong (e.g. the v6 double
    free of a failed retrieve): the last word of each generation, in generation order."""
    last = {}
    for s in res.steps:
        if s.status != "skipped":
            last[s.generation] = s.findings
    return [f"generation {g}: {f}" for g, fs in last.items() for f in fs]


def _step_json(s) -> dict:
    st = s.step
    return {"index": st.index, "action": st.action, "title": st.name or st.title,
            "bdf": st.args.get("bdf"), "line": st.line, "note": st.note, "status": s.status, "result": s.result,
            "errno": s.errno, "message": s.message, "error": s.error,
            "generation": s.generation, "profile": s.profile, "messages": s.lines,
            "findings": s.findings,
            "expectations": [{"kind": c.expectation.kind, "expected": c.expectation.text,
                              "line": c.expectation.line, "ok": c.ok,
                              "message": c.message} for c in s.checks],
            "seconds": round(s.seconds, 6)}


def to_junit(results) -> bytes:
    """JUnit XML for one or more RunResults (one testsuite each)."""
    import xml.etree.ElementTree as ET
    root = ET.Element("testsuites", name="pcilu rehearse")
    tot = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for res in results:
        sc = res.scenario
        suite = ET.SubElement(root, "testsuite", name=sc.name)
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for s in res.steps:
            cls = f"{sc.name}"
            tc = ET.SubElement(suite, "testcase", name=s.step.label, classname=cls,
                               time=f"{s.seconds:.6f}", file=sc.path,
                               line=str(s.step.line or 0))
            n["tests"] += 1
            if s.status == "skipped":
                ET.SubElement(tc, "skipped", message=s.message or "skipped")
                n["skipped"] += 1
            elif s.error:
                e = ET.SubElement(tc, "error", message=s.error, type=s.result)
                e.text = "\n".join(s.lines)
                n["errors"] += 1
            if s.lines:
                ET.SubElement(tc, "system-out").text = "\n".join(s.lines)
            for i, ex in enumerate(s.step.expect):
                tc2 = ET.SubElement(suite, "testcase", name=f"{s.step.label}: {ex.text}",
                                    classname=cls, time="0", file=sc.path,
                                    line=str(ex.line or 0))
                n["tests"] += 1
                if s.status == "skipped" or i >= len(s.checks):
                    ET.SubElement(tc2, "skipped", message=s.message or "step did not run")
                    n["skipped"] += 1
                elif not s.checks[i].ok:
                    f = ET.SubElement(tc2, "failure", message=s.checks[i].message,
                                      type="ExpectationFailed")
                    f.text = f"{sc.path}:{ex.line}: {s.step.label}: {s.checks[i].message}"
                    n["failures"] += 1
        for k, val in n.items():
            suite.set(k, str(val))
            tot[k] += val
        suite.set("time", f"{res.seconds:.6f}")
        total_time += res.seconds
    for k, val in tot.items():
        root.set(k, str(val))
    root.set("time", f"{total_time:.6f}")
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") \
        + b"\n"


def render(res, con, *, show_log: bool = True) -> None:
    """The step-by-step report for people, printed on ``con`` (a rich Console the CLI made,
    honouring --color / NO_COLOR)."""
    from rich.markup import escape
    sc = res.scenario
    head = (f"[bold]{escape(sc.name)}[/bold] ({escape(sc.path)}): fabric "
            f"{escape(sc.fabric_ref)}, profile {sc.profile}")
    if sc.cmdline:
        head += f', cmdline "{escape(sc.cmdline)}"'
    con.print(head, soft_wrap=True)
    if sc.description:
        con.print(f"  [dim]{escape(sc.description.strip())}[/dim]", soft_wrap=True)
    mark = {"passed": "[green]PASS[/green]", "failed": "[red]FAIL[/red]",
            "error": "[red]FAIL[/red]", "skipped": "[yellow]SKIP[/yellow]"}
    gen = None
    said = []
    for s in res.steps:
        if s.generation != gen and s.status != "skipped":
            gen = s.generation
        out = f"{mark[s.status]} {escape(s.step.label)}"
        if s.result == "refused":
            out += f" -> refused -{s.errno}"
        elif s.result == "panic":
            out += " -> [red]kernel panic[/red]"
        if s.step.action == "kexec" and s.result != "skipped":
            out += f" -> generation {s.generation} ({s.profile})"
        out += f"  [dim]line {s.step.line}[/dim]"
        con.print(out, soft_wrap=True)
        if s.status == "skipped":
            con.print(f"     [dim]{escape(s.message or '')}[/dim]")
            continue
        if s.error:
            con.print(f"     [red]{escape(s.error)}[/red]", soft_wrap=True)
        for c in s.checks:
            if c.ok:
                con.print(f"     [green]ok[/green] {escape(c.expectation.text)}", soft_wrap=True)
            else:
                con.print(f"     [red]no {escape(c.message)}[/red]  [dim]line "
                          f"{c.expectation.line}[/dim]", soft_wrap=True)
        if s.findings != said:
            for f in s.findings:
                con.print(f"     [yellow]finding: {escape(f)}[/yellow]", soft_wrap=True)
            said = s.findings
        if show_log and s.lines:
            for ln in s.lines:
                con.print(f"       [dim]{escape(ln)}[/dim]", soft_wrap=True)
    c = res.counts()
    tail = (f"{c['steps']} steps, {c['expectations']} expectations: "
            f"{c['steps_failed'] + c['steps_errors']} steps failed, "
            f"{c['expectations_failed']} expectations failed, {c['steps_skipped']} skipped ({res.seconds * 1000:.0f} ms)")
    con.print(("[green]passed[/green]: " if res.passed else "[red]FAILED[/red]: ") + tail,
              soft_wrap=True)
