# SPDX-License-Identifier: GPL-2.0-only
"""PCI addresses (pcilu_cli/abi/bdf.py): what people type, what the kernel prints, and the
kernel's device key."""
import pytest
from hypothesis import given, strategies as st

from pcilu_cli.abi import bdf


@pytest.mark.parametrize("typed, printed", [
    ("01:00.0", "0000:01:00.0"),            # domain optional, as lspci prints it
    ("1:0.7", "0000:01:00.7"),
    ("  0000:3A:1f.3 ", "0000:3a:1f.3"),    # upper case and blanks are accepted
    ("10000:00:00.0", "10000:00:00.0"),     # a VMD domain is printed in full
])
def test_a_typed_address_prints_as_dev_name_does(typed, printed):
    assert bdf.canonical_bdf(typed) == printed


@pytest.mark.parametrize("text", ["", "00:20.0", "00:00.8", "0:0:0:0.0", "1000000:00:00.0",
                                  "zz:00.0", "00:00"])
def test_what_is_not_an_address_is_refused(text):
    with pytest.raises(ValueError):
        bdf.parse_bdf(text)


def test_the_device_key_is_pci_ser_xa_key_of_the_entry():
    # a device in domain 0x10000 (above 16 bits: the v6 fix widens before shifting)
    dom, bus, devfn = bdf.parse_bdf("10000:3a:02.1")
    key = bdf.device_key(dom, bus, devfn)
    dev_id = bdf.pci_dev_id(bus, devfn)
    assert dev_id == 0x3a11
    assert key == bdf.xa_key(dom, dev_id) == 0x1_0000_3a11
    assert bdf.key_parts(key) == (dom, bus, devfn)
    assert bdf.key_name(key) == bdf.format_dev_id(dom, dev_id) == "10000:3a:02.1"
    # two domains never share a key
    assert bdf.key_of_bdf("0000:3a:02.1") != key


def test_slot_and_function_of_a_devfn():
    devfn = bdf.pci_devfn(0x1f, 7)
    assert devfn == 0xff
    assert (bdf.pci_slot(devfn), bdf.pci_func(devfn)) == (0x1f, 7)
    assert bdf.format_devfn(devfn) == "1f.7"
    assert bdf.format_bus(0, 0x3a) == "0000:3a"


@pytest.mark.parametrize("domain, bus, name", [(0, 0, "pci0000:00"), (1, 0x80, "pci0001:80"),
                                               (0x10000, 0xE0, "pci10000:e0")])
def test_a_root_bus_sits_below_the_host_bridge_sysfs_names(domain, bus, name):
    # /sys/devices/pci0000:00 on every PC; a second segment's host bridge; a VMD domain
    # (above 16 bits) printed in full, as its /sys/devices/pci10000:e0 is
    assert bdf.format_host_bridge(domain, bus) == name


@given(st.integers(0, 0x1_0000), st.integers(0, 0xFF), st.integers(0, 0xFF))
def test_naming_many_devices_names_each_as_key_name_does(domain, bus, devfn):
    # a report or shutdown pass names its devices with one prefix cache: same text
    prefixes: dict = {}
    key = bdf.device_key(domain, bus, devfn)
    near = bdf.device_key(domain, bus, devfn ^ 1)
    assert bdf.key_name_in(prefixes, near) == bdf.key_name(near)
    assert bdf.key_name_in(prefixes, key) == bdf.key_name(key) == bdf.format_bdf(domain, bus,
                                                                                  devfn)
