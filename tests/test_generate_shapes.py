# SPDX-License-Identifier: GPL-2.0-only
"""`pcilu generate --shape`: the realistic SR-IOV host and the one full PCI domain are what they
claim to be once a kernel enumerates them."""
import json

from click.testing import CliRunner

from pcilu_cli.cli import cli
from pcilu_cli.fabric.synth import synth_fabric
from pcilu_cli.state import Machine


def test_ari_shape_puts_65536_functions_in_one_domain():
    fab = synth_fabric(65536, shape="ari")
    assert len(fab) == 65536
    assert fab.domains() == [0]
    ends = {fn.uid for fn in fab.functions() if fn.uid.endswith(":ff:00.0")}
    assert ends == {"0000:ff:00.0"}          # bus 0xff is used: the bus limit is reached


def test_ari_shape_is_enumerated_through_ari_forwarding():
    fab = synth_fabric(1300, shape="ari")
    m = Machine.boot(fab)
    devs = m.report()["devices"]
    assert len(devs) == 1300 and all(d["enumerated"] for d in devs)
    # function 200 of the device behind root port 00:00.1 is only reachable with ARI
    assert "0000:01:19.0" in {d["bdf"] for d in devs}
    rp = next(d for d in devs if d["bdf"] == "0000:00:00.1")
    assert rp["ari_forwarding"] is True


def test_sriov_shape_has_eight_pfs_with_256_vfs_each(tmp_path):
    out = tmp_path / "host.fab"
    r = CliRunner().invoke(cli, ["generate", "-n", "4096", "--shape", "sriov", "-o", str(out),
                                 "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["functions"] == 4096 and summary["shape"] == "sriov"
    assert summary["domains"] == len(synth_fabric(4096, shape="sriov").domains())
    m = Machine.boot(synth_fabric(4096, shape="sriov"))
    kinds = [d["kind"] for d in m.report()["devices"]]
    assert kinds.count("pf") == 8 and kinds.count("vf") == 8 * 256
    assert kinds.count("endpoint") > 1000          # the NVMe drives behind switches


def test_generate_says_how_many_domains(tmp_path):
    r = CliRunner().invoke(cli, ["generate", "-n", "2000", "-o",
                                 str(tmp_path / "f.fab")])
    assert r.exit_code == 0
    assert "2,000 functions in 3 domains" in r.stderr
