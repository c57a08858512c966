# SPDX-License-Identifier: GPL-2.0-only
"""The ``--profile`` option type: any profile name or alias of ``pcilu profiles``.

A ``click.Choice`` would print every name in ``--help`` (one per v6 patch makes that line
far wider than a terminal); this type shows ``PROFILE``, validates through the profile table
(a usage error, exit 2, lists the known names) and completes names in the shell.
"""
from __future__ import annotations

import click

from pcilu_cli.abi.profiles import PROFILES, get_profile
from pcilu_cli.errors import PcIluError


class ProfileParam(click.ParamType):
    name = "profile"

    def get_metavar(self, param, ctx=None):     # click 8.2 added ctx
        return "PROFILE"

    def convert(self, value, param, ctx):
        if value is None:
            return None
        try:
            get_profile(value)
        except PcIluError as e:
            self.fail(f"{value!r}: {e.message}; see 'pcilu profiles'", param, ctx)
        return value

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem
        names = list(PROFILES) + [a for p in PROFILES.values() for a in p.aliases]
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]


PROFILE = ProfileParam()
