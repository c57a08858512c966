# SPDX-License-Identifier: GPL-2.0-only
"""Kernel command-line parameters (``pcilu_cli.kernel.params``): what is parsed, what is ignored,
and ``liveupdate=off``.
"""
from __future__ import annotations

import pytest

from pcilu_cli.errors import KernelRefusal
from pcilu_cli.fabric.build import small_fabric
from pcilu_cli.kernel import Kernel, parse_cmdline


def test_cmdline_parsing():
    p = parse_cmdline("quiet pci=assign-busses,noari,config_acs=1x0@pci:8086:0 "
                      "liveupdate=off kho=on")
    assert p.assign_busses and p.noari and p.config_acs == "1x0@pci:8086:0"
    assert not p.liveupdate and p.kho and not p.luo_enabled
    assert "quiet" in p.ignored


def test_liveupdate_off_refuses_with_eopnotsupp():
    k = Kernel.boot(small_fabric("virtio"), params="liveupdate=off")
    with pytest.raises(KernelRefusal) as ei:
        k.preserve("01:00.0")
    assert ei.value.errno_name == "EOPNOTSUPP"
