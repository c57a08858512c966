# SPDX-License-Identifier: GPL-2.0-only
"""PCI register names (pcilu_cli/abi/pci_regs.py): the port type a function's PCIe capability
says, as the fabric model and the simulated kernel both read it."""
import pytest

from pcilu_cli.abi.pci_regs import (
    PCI_CAP_ID_EXP, PCI_EXP_FLAGS, PciExpType, pcie_flags, port_type_word, split_bus_numbers,
    with_bus_numbers,
)
from pcilu_cli.fabric.function_spec import FunctionSpec, make_config


@pytest.mark.parametrize("kind, ptype", [("root_port", PciExpType.ROOT_PORT),
                                         ("upstream", PciExpType.UPSTREAM),
                                         ("downstream", PciExpType.DOWNSTREAM),
                                         ("rciep", PciExpType.RC_END)])
def test_a_synthesized_port_reads_back_its_type(kind, ptype):
    cfg = make_config(FunctionSpec("0000:00:01.0", kind=kind))
    flags = cfg.read(cfg.find_capability(PCI_CAP_ID_EXP) + PCI_EXP_FLAGS, 2)
    assert (flags >> 4) & 0xF == ptype            # the Device/Port Type field, bits 7:4
    assert port_type_word(flags) == kind == ptype.word


def test_a_reserved_port_type_is_named_by_its_number():
    assert port_type_word(pcie_flags(2, 0xB)) == "type0xb"


def test_new_bus_numbers_keep_the_secondary_latency_timer():
    dw = with_bus_numbers(0x40_00_00_00, 0x00, 0x01, 0x05)
    assert dw == 0x40_05_01_00
    assert split_bus_numbers(dw) == (0x00, 0x01, 0x05)
