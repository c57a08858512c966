# SPDX-License-Identifier: GPL-2.0-only
"""``pcilu report SOURCE... -o report.html``: one self-contained HTML page of a rehearsal.

SOURCE is one of
- state files (one or more generations; shown left to right by generation number);
- a scenario file (run in memory as ``rehearse`` runs it: every generation's last record, the
  steps, expectations and kernel log);
- a JSON document pcilu printed: ``enumerate --json`` / ``kexec --json`` (a generation),
  ``fabric show --json`` (a fabric), ``rehearse --json`` (the steps), ``verify --json``
  (the prediction against the real host; give the predicted state file too, and the
  divergent devices are marked on the tree).

The page is drawn from the same documents the JSON commands print (``html_report``). The
output is written atomically; bad input exits 3 with one line naming the file.
"""
from __future__ import annotations

import json

import click

from pcilu_cli.errors import BadInput, UsageError


@click.command()
@click.argument("sources", metavar="SOURCE...", nargs=-1, required=True)
@click.option("-o", "--output", metavar="FILE", required=True,
              help="The HTML file to write ('-' for stdout).")
@click.option("--title", default=None, help="Page title (default: the scenario's name or the "
              "files).")
def report(sources, output, title):
    """Write an HTML report of state files, a scenario, or pcilu JSON documents.

    The page shows the fabric as a tree (domain, root bus, bridges, functions with BDF, kind
    and bus range) with one column per generation: the preserved path with its refcounts,
    incoming devices, devices that lost Bus Master at kexec, skipped or reconfigured bridges,
    refusals with their errno. Subtrees nothing happened to are collapsed. For a scenario,
    the steps follow as a timeline with each expectation's result and the kernel log. One
    file, no scripts, nothing fetched: it opens offline and in CI artifact viewers.

    \b
    Examples:
      pcilu report fixtures/scenarios/emr-dsa-nvme.yaml -o emr.html
      pcilu report gen0.elf gen1.elf gen2.elf -o upgrade.html
      pcilu enumerate gen1.elf --json > gen1.json && pcilu report gen1.json -o gen1.html
    """
    from pcilu_cli.cli.html_report import render_html
    from pcilu_cli.state.store import atomic_write
    if "-" in sources:
        raise UsageError("report reads files, not stdin ('-')")
    doc = collect(list(sources), title)
    try:
        page = render_html(doc)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        # only documents read from JSON files can get here (the others pcilu built itself)
        raise BadInput(f"not a pcilu document this report can draw: {exc}",
                       file=doc.get("_json_file") or sources[0]) from None
    atomic_write(output, page.encode("utf-8"))
    return 0


def _sniff(path: str) -> str:
    from pcilu_cli.abi.formats import identify_head
    try:
        ident = identify_head(path)
    except IsADirectoryError:
        raise BadInput("is a directory, not a state file, scenario or JSON document",
                       file=path) from None
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror or exc}", file=path) from None
    if ident.kind == "elf":
        return "state"
    text = ident.facts.get("text")
    if text == "json":
        return "json"
    if text == "scenario" or path.endswith((".yaml", ".yml")):
        return "scenario"
    raise BadInput("not a state file, scenario file or pcilu JSON document", file=path,
                   offset=0)


def collect(sources: list, title: str | None = None) -> dict:
    """The report document: ``{"kind": "report", "title", "sources", "generations":
    [{"label", "fabric", "enumerate", "refused"}], "rehearsal"}``."""
    kinds = [(_sniff(p), p) for p in sources]
    scen = [p for k, p in kinds if k == "scenario"]
    if scen and len(sources) > 1:
        raise UsageError("a scenario is reported on its own (it runs its own generations); "
                         f"got {len(sources)} sources")
    if scen:
        return _from_scenario(scen[0], title)
    gens, rehearsal, json_file, verifies = [], None, None, []
    for i, (kind, path) in enumerate(kinds):
        if kind == "state":
            from pcilu_cli.fabric.render import fabric_to_json
            from pcilu_cli.state import load
            m = load(path)
            gens.append((m.generation, i, {"label": path, "fabric": fabric_to_json(m.fabric),
                                           "enumerate": m.report(), "refused": []}))
            continue
        doc = _read_json(path)
        json_file = json_file or path
        k = doc.get("kind")
        if k in ("enumerate", "kexec"):
            _check_enum(doc, path)
            gens.append((doc.get("generation") or 0, i,
                         {"label": path, "fabric": None, "enumerate": doc, "refused": []}))
        elif k == "fabric":
            _check_list(doc, "functions", path)
            gens.append((-1, i, {"label": path, "fabric": doc,
                                 "enumerate": {"generation": "-", "profile": "",
                                               "phase": "fabric", "devices": []},
                                 "refused": []}))
        elif k == "verify":
            for key in ("divergences", "unmodelled", "not_compared"):
                _check_list(doc, key, path)
            verifies.append(doc)
        elif k == "rehearsal":
            if rehearsal is not None:
                raise UsageError("one rehearsal document per report")
            _check_list(doc, "steps", path)
            rehearsal = doc
        else:
            raise BadInput(f"a JSON document of kind {str(k)[:40]!r}: expected enumerate, "
                           "kexec, fabric, rehearsal or verify", file=path, field="kind")
    gens.sort(key=lambda t: (t[0] if isinstance(t[0], int) else 0, t[1]))
    if rehearsal is not None:
        for _g, _i, g in gens:
            g["refused"] = _refusals(rehearsal, g["enumerate"].get("generation"))
    for v in verifies:
        for _g, _i, g in gens:
            if g["enumerate"].get("generation") == v.get("generation"):
                g["diverged"] = [(str(d.get("device")), str(d.get("field")),
                                  str(d.get("message") or ""))
                                 for d in v.get("divergences") or []]
    return {"kind": "report", "title": title or ("pcilu report: " + ", ".join(sources)),
            "sources": list(sources), "generations": [g for _a, _b, g in gens],
            "rehearsal": rehearsal, "verify": verifies, "_json_file": json_file}


def _read_json(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except OSError as exc:
        raise BadInput(f"cannot read: {exc.strerror or exc}", file=path) from None
    except (ValueError, RecursionError) as exc:
        off = getattr(exc, "pos", None)
        raise BadInput(f"not JSON: {getattr(exc, 'msg', exc)}", file=path, offset=off) from None
    if not isinstance(doc, dict):
        raise BadInput("a JSON document must be an object with a \"kind\"", file=path,
                       offset=0)
    return doc


def _check_list(doc, key, path, item=dict):
    v = doc.get(key)
    if v is None:
        return
    if not isinstance(v, list):
        raise BadInput(f"{key!r} must be a list", file=path, field=key)
    for i, x in enumerate(v):
        if not isinstance(x, item):
            raise BadInput(f"{key}[{i}] must be {'an object' if item is dict else 'a string'}",
                           file=path, field=f"{key}[{i}]")


def _check_enum(doc, path):
    _check_list(doc, "devices", path)
    _check_list(doc, "messages", path, item=str)
    _check_list(doc, "bus_master_cleared", path)
    for i, d in enumerate(doc.get("devices") or []):
        for key in ("bdf", "uid"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise BadInput(f"devices[{i}].{key} must be a string", file=path,
                               field=f"devices[{i}].{key}")
        for key in ("secondary", "subordinate", "outgoing_refcount"):
            v = d.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise BadInput(f"devices[{i}].{key} must be an integer", file=path,
                               field=f"devices[{i}].{key}")


def _refusals(reh: dict, generation) -> list:
    """(bdf, errno, message) of the steps the kernel refused in ``generation``."""
    out = []
    for s in reh.get("steps") or []:
        if s.get("result") == "refused" and s.get("generation") == generation \
                and isinstance(s.get("bdf"), str):
            out.append((s["bdf"], s.get("errno"), s.get("message")))
    return out


def _from_scenario(path: str, title):
    """Run the scenario in memory and keep every generation's last record as documents."""
    from pcilu_cli.fabric.render import fabric_to_json
    from pcilu_cli.rehearsal import load_scenario
    from pcilu_cli.rehearsal import report as rreport
    from pcilu_cli.rehearsal.runner import Rehearsal
    records: dict = {}
    done = []

    class _Capture(Rehearsal):
        # the runner writes genN.elf at the same moments with --keep: before each kexec and
        # at the end; here the record stays in memory, as the JSON documents
        def _done(self, m, results, t0):
            done.append(True)
            return super()._done(m, results, t0)

        def _save(self, m):
            records[m.generation] = {"label": "as the run left it" if done
                                     else "just before its kexec",
                                     "fabric": fabric_to_json(m.fabric),
                                     "enumerate": m.report(), "refused": []}

    sc = load_scenario(path)
    res = _Capture(sc).run()
    reh = rreport.to_json(res)
    gens = [records[g] for g in sorted(records)]
    for g in gens:
        g["refused"] = _refusals(reh, g["enumerate"].get("generation"))
    return {"kind": "report", "title": title or f"pcilu rehearsal: {sc.name}",
            "sources": [path], "generations": gens, "rehearsal": reh}
