# SPDX-License-Identifier: GPL-2.0-only
"""device_shutdown() of a kernel read from a state file (kernel/shutdown.py, state/kernel_note.py):
the devices nobody built are shut down from their rows, without building a pci_dev each, and
everything that shutdown leaves — Bus Master Enable cleared on the hardware, the devices
frozen, the next generation — is what the same shutdown of a kernel built in one go leaves."""
import pytest

from pcilu_cli.fabric.synth import synth_fabric
from pcilu_cli.kernel import faults
from pcilu_cli.state import Machine, kernel_note


@pytest.fixture(scope="module")
def gen0():
    # more devices than one chunk holds, some preserved (their BME stays, patch 11)
    fab = synth_fabric(2 * kernel_note.CHUNK_ROWS + 300)
    m = Machine.boot(fab)
    eps = [d["bdf"] for d in m.report()["devices"]
           if d["kind"] == "endpoint" and d["enumerated"]]
    for bdf in (eps[0], eps[len(eps) // 2], eps[-1]):
        m.preserve(bdf)
    return m.to_bytes(), eps


def _loaded(data, *, whole):
    m = Machine.from_bytes(data)
    if whole:
        m.forget_encoded()                 # every pci_dev and function built, nothing kept
    return m


def test_a_kexec_of_a_loaded_state_builds_no_pci_dev_of_the_old_generation(gen0):
    data, eps = gen0
    lazy = _loaded(data, whole=False)
    held = lazy.kernel.dev(eps[1])           # handed out before the kexec: kept, shut down
    built = dict.__len__(lazy.kernel.devices)
    nxt = lazy.kexec(consume=True)
    assert dict.__len__(lazy.kernel.devices) == built < 16
    assert held.frozen
    whole = _loaded(data, whole=True).kexec(consume=True)
    assert nxt.bus_master_cleared == whole.bus_master_cleared
    assert len(nxt.bus_master_cleared) > 2 * kernel_note.CHUNK_ROWS
    cleared = {b for b, _u in nxt.bus_master_cleared}
    assert eps[0] not in cleared and eps[-1] in {d["bdf"] for d in nxt.report()["devices"]}
    assert nxt.to_bytes() == whole.to_bytes()


def test_a_reboot_of_a_loaded_state_saves_every_device_frozen(gen0):
    data, eps = gen0
    lazy = _loaded(data, whole=False)
    lazy.kernel.dev(eps[1])                  # a few built, the rest are rows
    lazy.kernel_op(faults.reboot)
    assert dict.__len__(lazy.kernel.devices) < 16
    whole = _loaded(data, whole=True)
    whole.kernel_op(faults.reboot)
    saved = lazy.to_bytes()
    assert saved == whole.to_bytes()
    back = Machine.from_bytes(saved)
    assert all(d.frozen for d in back.kernel.devices.values())
    # a device built after the walk sees it frozen too
    again = _loaded(data, whole=False)
    again.kernel_op(faults.reboot)
    assert again.kernel.dev(eps[2]).frozen


def test_a_reboot_leaves_bus_master_enable_as_it_was(gen0):
    # a normal reboot (no kexec) clears no Bus Master Enable: the fabric note is unchanged
    data, _eps = gen0
    m = _loaded(data, whole=False)
    before = m.fabric.to_bytes()
    m.kernel_op(faults.reboot)
    assert m.fabric.to_bytes() == before


def test_the_cleared_list_survives_a_save_that_never_read_it(gen0):
    """A generation-1 command that neither reads nor changes ``bus_master_cleared`` (a
    `finish`) keeps the stored list as it was read, and the next load reads the same pairs;
    a list holding [bdf, uid] pairs (a uid that is not the device's name) reads the same."""
    import json

    from pcilu_cli.memory import elfcore
    data, eps = gen0
    g1 = Machine.from_bytes(data).kexec(consume=True)
    want = g1.bus_master_cleared
    first = Machine.from_bytes(g1.to_bytes())
    first.finish(eps[0])
    again = Machine.from_bytes(first.to_bytes())
    assert again.bus_master_cleared == want and len(want) > 2 * kernel_note.CHUNK_ROWS
    # the same state with one entry stored as a pair: read as that pair, the rest as names
    mem, notes = elfcore.read_elf_core(g1.to_bytes())
    meta_t = elfcore.NT_PCILU_METADATA
    meta = json.loads(next(bytes(d) for _n, t, d in notes if t == meta_t))
    meta["bus_master_cleared"][0] = ["0000:ee:00.0", meta["bus_master_cleared"][0]]
    raw = json.dumps(meta).encode()
    paired = Machine.from_bytes(elfcore.write_elf_core(
        mem, [(n, t, raw if t == meta_t else bytes(d)) for n, t, d in notes]))
    assert paired.bus_master_cleared == [("0000:ee:00.0", want[0][1]), *want[1:]]
    assert Machine.from_bytes(paired.to_bytes()).bus_master_cleared == \
        paired.bus_master_cleared
