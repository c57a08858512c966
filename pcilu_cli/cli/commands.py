# SPDX-License-Identifier: GPL-2.0-only
"""The table of ``pcilu``'s commands: where each one lives, and the line ``pcilu --help``
lists for it (so that the list needs no command module imported)."""
from __future__ import annotations

# name -> "module:attribute"; the module lives in pcilu_cli.cli
COMMANDS = {
    "inspect": "cmd_inspect:inspect",
    "encode": "cmd_inspect:encode",
    "fabric": "cmd_fabric:fabric",
    "init": "cmd_kernel:init",
    "preserve": "cmd_kernel:preserve",
    "unpreserve": "cmd_kernel:unpreserve",
    "kexec": "cmd_kernel:kexec",
    "enumerate": "cmd_kernel:enumerate",
    "finish": "cmd_kernel:finish",
    "hot-remove": "cmd_kernel:hot_remove",
    "hot-add": "cmd_kernel:hot_add",
    "export": "cmd_kernel:export",
    "profiles": "cmd_profiles:profiles",
    "rehearse": "cmd_rehearse:rehearse",
    "diff": "cmd_diff:diff",
    "generate": "cmd_generate:generate",
    "report": "cmd_report:report",
    "capture": "cmd_capture:capture",
    "kernel": "cmd_kernel_image:kernel",
    "plan": "cmd_plan:plan",
    "examples": "cmd_examples:examples",
    "verify": "cmd_verify:verify",
}

# name -> the one-line summary `pcilu --help` lists (the first sentence of the command's help):
# the list is drawn from here, without importing every command module; tests/test_startup.py
# holds each line equal to the real command's. A command missing here is imported for its help.
SUMMARIES = {
    "inspect": "Decode a hand-over blob for a person, or for a script with --json.",
    "encode": "Build a raw `struct pci_ser` blob from a JSON list of entries.",
    "fabric": "Inspect and convert PCI fabrics (YAML, `lspci -xxxx` dump, sysfs snapshot).",
    "init": "Boot generation 0 on FABRIC and write its state file.",
    "preserve": "Preserve devices for the next kernel (their upstream bridges come along).",
    "unpreserve": "Stop preserving devices (their bridges' refcounts drop).",
    "kexec": ("Kexec into the next kernel: freeze, shut down (Bus Master stays on outgoing "
              "devices), hand over KHO/LUO/PCI FLB, boot generation N+1 and enumerate it."),
    "enumerate": ("What this generation's enumeration did, per device: incoming / outgoing, Bus "
                  "Master, bus numbers, ACS control and ARI Forwarding (and whether inherited), "
                  "enumerated or skipped — and the kernel log lines."),
    "finish": ("Finish incoming devices (the driver is done with them): refcounts drop up the "
               "path, and the incoming FLB is freed once every preserved device has finished."),
    "hot-remove": ("Hot-remove devices (and everything below them) from this kernel: each release "
                   "runs pci_liveupdate_cleanup_device()."),
    "hot-add": ("Rescan every bus (echo 1 > /sys/bus/pci/rescan): removed or new hardware is "
                "enumerated, with Live Update's bus-number rules still in force while devices are "
                "unfinished."),
    "export": ("Write the standard views of a generation (lspci dump, KHO FDTs, FLB blobs) into "
               "DIR."),
    "profiles": "List kernel profiles (ABI + behaviour of one series revision).",
    "rehearse": "Rehearse a Live Update from scenario files and check their expectations.",
    "diff": "Show what changed between two generations (state files) or two blobs.",
    "generate": ("Generate a synthetic fabric of FUNCTIONS functions (for benchmarks and scale "
                 "rehearsals)."),
    "report": "Write an HTML report of state files, a scenario, or pcilu JSON documents.",
    "capture": ("Capture this host for rehearsals: every PCI function (config space, topology "
                "links, SR-IOV attributes, bound driver, IOMMU group, power state), /proc/cmdline,"
                " uname -r, the kernel config, the KHO debugfs tree when mounted, and the "
                "PCI/KHO/LUO kernel log lines."),
    "kernel": ("Report a kernel build's release, CONFIG_KEXEC_HANDOVER / CONFIG_LIVEUPDATE / "
               "CONFIG_PCI_LIVEUPDATE, the hand-over ABI strings it carries (KHO, LUO, PCI FLB "
               "compatibles) and the pcilu profile that matches — or why it cannot take part."),
    "plan": ("Plan preserving devices: per device, preservable or not with the errno and the "
             "reason the kernel would give (VF, ACS quirk on the device or an upstream port, below"
             " a CardBus bridge or a bridge without a child bus, already preserved, ...), the "
             "bridges it pulls in with their resulting refcounts, struct pci_ser slots against "
             "max_nr_devices, and the LUO sessions needed."),
    "examples": "List (or copy) the example fabrics and scenarios that ship with pcilu.",
    "verify": "Hold a predicted generation against the real host after its kexec.",
}
