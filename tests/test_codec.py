# SPDX-License-Identifier: GPL-2.0-only
"""The fast codecs kept in abi/codec_cache.py are what Construct derives from the declarations,
and decoding a blob through them does not import Construct."""
import importlib
import json
import subprocess
import sys

from pcilu_cli.abi import codec
from pcilu_cli.abi.codec_cache import CODECS


def test_every_kept_codec_is_what_construct_derives_now():
    for key, (fmt, offsets) in CODECS.items():
        module, name = key.split(":")
        assert codec.derive(module, name) == (fmt, offsets), \
            f"{key}: the cache is stale; rewrite it with `python -m pcilu_cli.abi.codec`"


def test_every_declared_layout_is_kept_in_the_cache():
    for module in codec.CACHED_MODULES:
        for name in importlib.import_module(module).LAYOUTS:
            assert f"{module}:{name}" in CODECS, f"{module}.{name} is missing from the cache"
    assert codec.cache_source() == \
        open(importlib.import_module("pcilu_cli.abi.codec_cache").__file__).read()


def test_a_struct_pci_ser_decodes_without_construct(tmp_path):
    blob = tmp_path / "ser.bin"
    code = ("import sys\n"
            "from pcilu_cli.abi import pci\n"
            "b = pci.encode_pci_ser('v6', [(0, 0, 0x0100, 1), (3, 1, 0x0208, 2)])\n"
            f"open({str(blob)!r}, 'wb').write(b)\n"
            "d = pci.pci_ser_to_json(pci.decode_pci_ser(b, 'v6'))\n"
            "assert [e['bdf'] for e in d['devices']] == ['0000:01:00.0', '0001:02:01.0'], d\n"
            "print('construct' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
    # the CLI's inspect of that blob neither
    code = ("import sys\nfrom pcilu_cli.cli import main\n"
            f"sys.argv = ['pcilu', 'inspect', {str(blob)!r}, '--json', '--profile', 'v6']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('construct' in sys.modules, file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stderr.strip().splitlines()[-1] == "False", p.stderr
    assert [e["bdf"] for e in json.loads(p.stdout)["devices"]] == ["0000:01:00.0", "0001:02:01.0"]
