# SPDX-License-Identifier: GPL-2.0-only
"""Run a scenario in memory: boot generation 0, apply each step, check its expectations.

Nothing touches the disk unless ``keep`` names a directory, where each generation's state file
is written as ``genN.elf`` (the last record of generation N: before its kexec, or at the end).
A step that the kernel refuses without a ``refused`` expectation, or that panics without a
``panic`` expectation, fails; after a panic there is no running kernel, so the remaining steps
are skipped. Expectation failures do not stop the run (CI wants every failure at once) unless
``fail_fast``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from pcilu_cli.errors import BadInput, KernelPanic, KernelRefusal
from pcilu_cli.rehearsal.expect import StepContext, check


@dataclass
class Check:
    expectation: object
    ok: bool
    message: str | None               # the failure sentence


@dataclass
class StepResult:
    step: object
    status: str = "passed"            # passed | failed | error | skipped
    result: str = "ok"                # ok | refused | panic | skipped
    errno: str | None = None
    message: str | None = None        # refusal / panic text, or why skipped
    error: str | None = None          # the unexpected-outcome sentence (status "error")
    generation: int = 0
    profile: str = ""
    lines: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    findings: list = field(default_factory=list)   # the report's findings after the step
    seconds: float = 0.0

    @property
    def failures(self) -> list:
        """Every failure sentence of this step, each prefixed with the step's label."""
        out = [f"{self.step.label}: {self.error}"] if self.error else []
        out += [f"{self.step.label}: {c.message}" for c in self.checks if not c.ok]
        return out


@dataclass
class RunResult:
    scenario: object
    steps: list
    generations: list                 # [{"generation", "profile", "file"}]
    seconds: float = 0.0

    @property
    def failures(self) -> list:
        return [f for s in self.steps for f in s.failures]

    @property
    def passed(self) -> bool:
        return not self.failures

    def counts(self) -> dict:
        st = [s.status for s in self.steps]
        checks = [c for s in self.steps for c in s.checks]
        return {"steps": len(st), "steps_passed": st.count("passed"),
                "steps_failed": st.count("failed"), "steps_errors": st.count("error"),
                "steps_skipped": st.count("skipped"),
                "expectations": len(checks),
                "expectations_failed": sum(1 for c in checks if not c.ok)}


def find_function(fabric, bdf: str):
    """The hardware function a scenario names: by the fabric's name for it, else by the
    address a config cycle reaches right now."""
    from pcilu_cli.abi.bdf import parse_bdf
    if fabric.has_uid(bdf):
        return fabric.by_uid(bdf)
    return fabric.route(*parse_bdf(bdf))


class Rehearsal:
    def __init__(self, scenario, *, keep: str | None = None, fail_fast: bool = False):
        self.sc = scenario
        self.keep = keep
        self.fail_fast = fail_fast
        self.reset_on_kexec: list[str] = []
        self.generations: list[dict] = []

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> RunResult:
        from pcilu_cli.state import Machine
        t0 = time.perf_counter()
        sc = self.sc
        results = []
        try:
            if sc.start is not None:        # generation 0 booted from a raw struct pci_ser
                from pcilu_cli.rehearsal import faults
                m = faults.boot(sc)
            else:
                m = Machine.boot(sc.fabric.copy(), profile=sc.profile, params=sc.cmdline)
        except KernelPanic as exc:          # generation 0 itself panics: nothing can run
            m = exc.machine
            for st in sc.steps:
                results.append(StepResult(st, status="error", result="skipped",
                                          message="generation 0 panicked at boot",
                                          error=f"generation 0 panicked at boot: "
                                                f"{exc.panic_message}"))
                break
            for st in sc.steps[1:]:
                results.append(StepResult(st, status="skipped", result="skipped",
                                          message="generation 0 panicked at boot"))
            return self._done(m, results, t0)
        self._gen_entry(m)
        stop = None
        for st in sc.steps:
            if stop is not None:
                results.append(StepResult(st, status="skipped", result="skipped",
                                          message=stop, generation=m.generation,
                                          profile=m.profile.name))
                continue
            r, m = self._step(m, st)
            results.append(r)
            if r.result == "panic" or getattr(m, "phase", "") == "panicked":
                stop = f"the kernel panicked at step {st.index}"
            elif self.fail_fast and r.status != "passed":
                stop = f"--fail-fast: step {st.index} failed"
        return self._done(m, results, t0)

    def _done(self, m, results, t0) -> RunResult:
        if m is not None:
            self._save(m)
        return RunResult(self.sc, results, self.generations, time.perf_counter() - t0)

    def _gen_entry(self, m):
        self.generations.append({"generation": m.generation, "profile": m.profile.name,
                                 "file": None})

    def _save(self, m):
        if not self.keep:
            return
        import os
        from pcilu_cli.state import save
        from pcilu_cli.errors import BadInput
        try:
            os.makedirs(self.keep, exist_ok=True)
        except OSError as e:
            raise BadInput(f"cannot create the --keep directory: {e.strerror or e}",
                           file=self.keep) from None
        path = os.path.join(self.keep, f"gen{m.generation}.elf")
        save(m, path)
        for g in self.generations:
            if g["generation"] == m.generation:
                g["file"] = path

    # -- one step -----------------------------------------------------------------------------
    def _step(self, m, st):
        t = time.perf_counter()
        prev = m.report()
        k = m.kernel
        start = len(k.log) if k is not None else 0
        ctx = StepContext(result="ok", action=st.action, prev=prev)
        nxt = m
        try:
            nxt = self._act(m, st, ctx)
        except KernelRefusal as exc:
            ctx.result, ctx.errno = "refused", exc.errno_name
            ctx.message, ctx.kernel_message = exc.one_line(), exc.kernel_message
        except KernelPanic as exc:
            ctx.result, ctx.message = "panic", exc.panic_message
            nxt = exc.machine or m
        old_lines = k.log.lines(start) if k is not None else []
        if nxt is not m:                    # a kexec: shutdown lines, then the new boot log
            ctx.step_lines = old_lines + nxt.report()["messages"]
        else:
            ctx.step_lines = old_lines
        ctx.report = nxt.report()
        ctx.gen_lines = ctx.report["messages"]
        ctx.machine = nxt
        r = StepResult(st, result=ctx.result, errno=ctx.errno, message=ctx.message,
                       generation=nxt.generation, profile=nxt.profile.name,
                       lines=ctx.step_lines, findings=list(ctx.report.get("findings") or ()))
        kinds = {e.kind for e in st.expect}
        if ctx.result == "refused" and "refused" not in kinds:
            r.error = (f"refused: {ctx.message}"
                       + (f" (kernel: {ctx.kernel_message})" if ctx.kernel_message else "")
                       + f"; add 'refused: {ctx.errno}' to expect it")
        elif ctx.result == "panic" and "panic" not in kinds:
            r.error = f"the kernel panicked: {ctx.message}"
        for e in st.expect:
            msg = check(e, ctx)
            r.checks.append(Check(e, msg is None, msg))
        if r.error:
            r.status = "error"
        elif any(not c.ok for c in r.checks):
            r.status = "failed"
        r.seconds = time.perf_counter() - t
        return r, nxt

    def _act(self, m, st, ctx):
        a = st.args
        act = st.action
        if act == "preserve":
            m.preserve(a["bdf"], session=a["session"], token=a["token"])
        elif act == "unpreserve":
            m.unpreserve(a["bdf"], session=a["session"])
        elif act == "finish":
            m.finish(a["bdf"])
        elif act == "hot-remove":
            m.hot_remove(a["bdf"])
        elif act == "rescan":
            m.rescan()
        elif act == "hot-add":
            self._hot_add(m, st)
            m.rescan()
        elif act == "reset":
            m.fabric.reset_function(self._fn(m, a["bdf"], st))
        elif act == "reset-on-kexec":
            self.reset_on_kexec += [b for b in a["bdfs"] if b not in self.reset_on_kexec]
        elif act == "power":
            for b, state in a["states"].items():
                self._fn(m, b, st).power_state = state
        elif act == "kexec":
            return self._kexec(m, a)
        else:
            from pcilu_cli.rehearsal import faults
            if act in faults.ACTIONS:
                faults.apply(m, st, ctx)
        return m

    def _fn(self, m, bdf, st):
        fn = find_function(m.fabric, bdf)
        if fn is None:
            raise BadInput(f"{st.label}: no function {bdf} in this generation's fabric",
                           file=self.sc.path, line=st.line)
        return fn

    def _hot_add(self, m, st):
        from pcilu_cli.abi.bdf import parse_bdf
        from pcilu_cli.fabric.function_spec import make_config
        from pcilu_cli.fabric.model import Function
        a = st.args
        dom, bus, devfn = parse_bdf(a["bdf"])
        fn = Function(a["bdf"], devfn, make_config(a["spec"]))
        parent = m.fabric.add_root(dom, bus) if a["parent"] is None \
            else self._fn(m, a["parent"], st)
        try:
            m.fabric.attach(fn, parent)
        except ValueError as e:
            raise BadInput(f"{st.label}: cannot plug {a['bdf']} in: {e}", file=self.sc.path,
                           line=st.line) from None

    def _kexec(self, m, a):
        self._save(m)
        pending, self.reset_on_kexec = self.reset_on_kexec, []
        # the fault is a property of this one transition: the hardware loses its registers
        # while the new kernel is being loaded (Kernel.kexec() applies reset_on_kexec)
        armed = []
        for b in pending:
            fn = find_function(m.fabric, b)
            if fn is not None and not fn.knob("reset_on_kexec"):
                fn.knobs["reset_on_kexec"] = True
                armed.append(fn.uid)
        pending = armed
        try:
            nxt = m.kexec(profile=a["profile"], params=a["cmdline"])
        except KernelPanic as exc:
            nxt = exc.machine
            self._clear_knobs(nxt, pending)
            self._gen_entry(nxt)
            raise
        self._clear_knobs(nxt, pending)
        self._gen_entry(nxt)
        return nxt

    @staticmethod
    def _clear_knobs(m, uids):
        if m is None or m.fabric is None:
            return
        for b in uids:
            fn = find_function(m.fabric, b) if m.fabric.has_uid(b) else None
            if fn is not None and fn._knobs:
                fn._knobs.pop("reset_on_kexec", None)


def run(scenario, *, keep: str | None = None, fail_fast: bool = False) -> RunResult:
    return Rehearsal(scenario, keep=keep, fail_fast=fail_fast).run()
