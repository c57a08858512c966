# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu verify`: a predicted generation against what a host showed after its kexec.

The "real host" here is the predicted generation's own fabric exported as `lspci -xxxx` text
and its kernel log rewritten as dmesg prints it (timestamps, driver names, another order):
unchanged, verify must pass; with one register or one log line changed, it must name exactly
that device, field, predicted and actual value."""
from __future__ import annotations

import re

import pcilu
from tests.conftest import ROOT
from tests.pcilu_run import run

FABRIC = ROOT / "fixtures" / "fabrics" / "switch-pcie.yaml"
NIC = "0000:03:00.0"            # preserved, behind root port 00:1c.0 and the switch
OTHER = "0000:04:00.0"          # not preserved


def after_kexec(tmp_path):
    """gen1.elf (NIC preserved across one kexec), its config space as `lspci -xxxx` text,
    and its kernel log as `dmesg` shows it: timestamps, drivers' names, reversed order."""
    m = pcilu.init(FABRIC)
    m.preserve(NIC)
    gen1 = m.kexec()
    gen1.save(tmp_path / "gen1.elf")
    from pcilu_cli.fabric.lspci import export_dump
    dump = tmp_path / "lspci.txt"
    dump.write_text(export_dump(gen1.fabric))
    lines = gen1.enumerate()["messages"]
    log = tmp_path / "dmesg.txt"
    log.write_text("".join(
        f"[{i + 1:5d}.{i * 7919 % 1000000:06d}] "
        + ln.replace(f"pci {NIC}", f"vfio-pci {NIC}").replace("pci 0000:00:1c", "pcieport 0000:00:1c")
        + "\n" for i, ln in enumerate(reversed(lines)))
        + "[   12.000001] e1000e 0000:04:00.0: eth0: NIC Link is Up\n")
    return tmp_path / "gen1.elf", dump, log


def edit_dump(text: str, bdf: str, change) -> str:
    """The dump with ``change(function)`` applied to one function's config space."""
    from pcilu_cli.fabric import format_bdf
    from pcilu_cli.fabric.lspci import export_dump, parse_dump
    fab = parse_dump(text, "lspci.txt")
    fn = next(f for f in fab.functions()
              if fab.current_bdf(f) and format_bdf(*fab.current_bdf(f)) == bdf)
    change(fn)
    return export_dump(fab)


def set_command(text: str, bdf: str, *, bus_master: bool) -> str:
    def change(fn):
        fn.bus_master = bus_master
    return edit_dump(text, bdf, change)


def verify_json(*args, exit_code=0):
    return run(["verify", *args, "--json"], exit_code=exit_code).json()


def test_an_unchanged_host_passes(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    doc = verify_json(gen1, dump, log)
    assert doc["passed"] and doc["divergences"] == []
    assert doc["devices"] == 9
    assert doc["log"]["matched"] == doc["log"]["predicted"] > 0


def test_one_changed_register_is_one_named_divergence(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    bad = tmp_path / "after.txt"
    bad.write_text(set_command(dump.read_text(), NIC, bus_master=False))
    r = run(["verify", gen1, bad, log, "--json"], exit_code=6)
    (d,) = r.json()["divergences"]
    assert (d["device"], d["field"], d["predicted"], d["actual"]) == \
        (NIC, "bus_master", True, False)
    assert f"{NIC}: bus_master" in r.stderr


def test_acs_control_of_a_preserved_root_port(tmp_path):
    gen1, dump, _ = after_kexec(tmp_path)
    bad = tmp_path / "after.txt"

    def change(fn):
        fn.acs_ctrl = 0x0001
    bad.write_text(edit_dump(dump.read_text(), "0000:00:1c.0", change))
    (d,) = verify_json(gen1, bad, exit_code=6)["divergences"]
    assert (d["device"], d["field"], d["actual"]) == ("0000:00:1c.0", "acs_ctrl", 1)
    assert d["predicted"] == pcilu.load(gen1).fabric.by_uid("0000:00:1c.0").acs_ctrl


def test_a_missing_log_line_is_a_divergence(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    gone = f"{NIC}: Device was preserved by previous kernel across Live Update"
    kept = [ln for ln in log.read_text().splitlines() if gone not in ln]
    assert len(kept) == len(log.read_text().splitlines()) - 1
    short = tmp_path / "short.txt"
    short.write_text("\n".join(kept) + "\n")
    doc = verify_json(gen1, dump, short, exit_code=6)
    (d,) = doc["divergences"]
    assert d["field"] == "log" and d["predicted"].endswith(gone) and d["actual"] is None
    assert doc["log"]["missing"] == [d["predicted"]]


def test_an_unpredicted_live_update_line_is_a_divergence(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    with open(log, "a") as f:
        f.write("[   13.5] pcieport 0000:02:01.0: Cannot reconfigure bridge during Live "
                "Update, skipping\n")
    (d,) = verify_json(gen1, dump, log, exit_code=6)["divergences"]
    assert d["predicted"] is None and "Cannot reconfigure bridge" in d["actual"]


def test_a_journal_formatted_log_matches_too(tmp_path):
    gen1, dump, _ = after_kexec(tmp_path)
    lines = pcilu.load(gen1).enumerate()["messages"]
    j = tmp_path / "journal.txt"
    j.write_text("".join(f"Dec 01 21:00:{i:02d} host kernel: {ln}\n"
                         for i, ln in enumerate(lines)))
    assert verify_json(gen1, dump, j)["passed"]


def test_bus_master_on_a_device_that_was_not_preserved_is_unmodelled(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    assert pcilu.load(gen1).fabric.by_uid(OTHER).bus_master is False
    after = tmp_path / "after.txt"
    after.write_text(set_command(dump.read_text(), OTHER, bus_master=True))
    r = run(["verify", gen1, after, log])
    assert "not modelled" in r.stdout and OTHER in r.stdout
    doc = verify_json(gen1, after, log)
    assert doc["passed"]
    (u,) = doc["unmodelled"]
    assert (u["device"], u["field"], u["predicted"], u["actual"]) == \
        (OTHER, "bus_master", False, True)


def test_a_device_the_host_does_not_show(tmp_path):
    gen1, dump, _ = after_kexec(tmp_path)
    blocks = dump.read_text().split("\n\n")
    short = tmp_path / "short.txt"
    short.write_text("\n\n".join(b for b in blocks if not b.startswith("0000:04:00.1")))
    (d,) = verify_json(gen1, short, exit_code=6)["divergences"]
    assert (d["device"], d["field"], d["predicted"], d["actual"]) == \
        ("0000:04:00.1", "present", True, False)


def test_a_256_byte_dump_does_not_compare_acs(tmp_path):
    gen1, dump, _ = after_kexec(tmp_path)
    short = tmp_path / "xxx.txt"
    # `lspci -xxx`: the first 256 bytes only (no "100:" .. "ff0:" lines)
    short.write_text("\n".join(ln for ln in dump.read_text().splitlines()
                               if not re.match(r"^[0-9a-f]{3}: ", ln)) + "\n")
    doc = verify_json(gen1, short)
    assert doc["passed"]
    assert {d["field"] for d in doc["not_compared"]} == {"acs_ctrl"}


def test_junit_names_each_divergence(tmp_path):
    import xml.etree.ElementTree as ET
    gen1, dump, log = after_kexec(tmp_path)
    bad = tmp_path / "after.txt"
    bad.write_text(set_command(dump.read_text(), NIC, bus_master=False))
    run(["verify", gen1, bad, log, "--junit", tmp_path / "v.xml"], exit_code=6)
    suite = ET.parse(tmp_path / "v.xml").getroot().find("testsuite")
    failed = [tc.get("name") for tc in suite if tc.find("failure") is not None]
    assert failed == [f"{NIC}: bus_master"]


def test_the_api_returns_the_same_document(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    api = pcilu.verify(pcilu.load(gen1), dump, log)
    cli = verify_json(gen1, dump, log)
    assert api["divergences"] == cli["divergences"] == []
    assert api["compared_devices"] == cli["compared_devices"]


def test_bad_inputs_are_one_line_exit_3(tmp_path):
    gen1, dump, log = after_kexec(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02\xff" * 64)
    r = run(["verify", gen1, junk, "--json"], exit_code=3)
    assert r.json()["error"] == "BadInput" and "junk.bin" in r.json()["message"]
    run(["verify", gen1, dump, dump], exit_code=3)          # two sources of config space
    run(["verify", gen1, log], exit_code=3)                 # a log alone has no devices
    run(["verify", gen1, gen1], exit_code=3)                # a prediction is not an actual
    run(["verify", dump, dump], exit_code=3)                # PREDICTED must be a state file


def test_a_capture_says_which_driver_is_bound(tmp_path):
    """A capture (here built from an `lspci -k`-style dump) names the bound drivers: Bus
    Master switched on under a bound driver is unmodelled, on a function with no driver it is
    a divergence."""
    from pcilu_cli.fabric import capture
    gen1, dump, log = after_kexec(tmp_path)
    text = set_command(dump.read_text(), OTHER, bus_master=True)
    text = set_command(text, "0000:04:00.1", bus_master=True)
    lines = []
    for ln in text.splitlines():
        lines.append(ln)
        if ln.startswith(OTHER + " "):
            lines.append("\tKernel driver in use: e1000e")
    k = tmp_path / "lspci-k.txt"
    k.write_text("\n".join(lines) + "\n")
    data, _manifest = capture.build_from_lspci(k)
    cap = tmp_path / "host.tar.gz"
    cap.write_bytes(data)
    doc = verify_json(gen1, cap, log, exit_code=6)
    assert [(u["device"], u["field"]) for u in doc["unmodelled"]] == [(OTHER, "bus_master")]
    assert "e1000e" in doc["unmodelled"][0]["reason"]
    assert [(d["device"], d["field"]) for d in doc["divergences"]] == \
        [("0000:04:00.1", "bus_master")]
