# SPDX-License-Identifier: GPL-2.0-only
"""The installed package stands alone: licence metadata, SPDX lines, example fabrics and
scenarios shipped as package data, a missing optional library reported in one line — and a
wheel built from a fresh clone, installed in a new venv, run in an empty directory."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import ROOT
from tests.pcilu_run import run

SOURCE_ENDINGS = (".py", ".c", ".h")


def _tracked():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        pytest.skip("not a git checkout")
    return out.stdout.split()


def test_every_source_file_carries_an_spdx_line():
    missing = []
    for f in _tracked():
        if not (f.endswith(SOURCE_ENDINGS) or f.endswith("Makefile")):
            continue
        p = ROOT / f
        if p.is_symlink() or not p.is_file():
            continue
        head = p.read_text(encoding="utf-8", errors="replace").splitlines()[:2]
        if not any("SPDX-License-Identifier: GPL-2.0-only" in ln for ln in head):
            missing.append(f)
    assert not missing, "no SPDX line at the top of: " + ", ".join(missing)


def test_licence_and_project_metadata():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "GPL-2.0-only"           # PEP 639 expression, not the table
    assert "LICENSE" in meta["license-files"]
    assert not [c for c in meta["classifiers"] if c.startswith("License ::")]
    assert meta["urls"]
    text = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 2, June 1991" in text
    # pylibfdt has no wheels: it is the optional 'fdt' extra, never a hard dependency
    assert not any(d.startswith("pylibfdt") for d in meta["dependencies"])
    assert any(d.startswith("pylibfdt") for d in meta["optional-dependencies"]["fdt"])


def test_examples_list_and_copy_into_a_directory(tmp_path):
    doc = run(["examples", "--json"]).json()
    names = {s["name"] for s in doc["scenarios"]}
    assert "qemu-virtio-net.yaml" in names
    assert doc["root"].startswith(str(ROOT / "pcilu_cli"))     # package data, not fixtures/
    run(["examples", "--copy", tmp_path / "ex"])
    assert {p.name for p in (tmp_path / "ex" / "scenarios").iterdir()} == names
    again = run(["examples", "--copy", tmp_path / "ex", "--json"], exit_code=3).json()
    assert "already exists" in again["message"]
    assert sorted(p.name for p in (tmp_path / "ex").iterdir()) == ["fabrics", "scenarios"]


def test_profiles_matrix_finds_its_fabric_in_the_package():
    from pcilu_cli.cli import cmd_matrix
    assert cmd_matrix.DEFAULT_FABRIC.is_file()
    assert "data" in cmd_matrix.DEFAULT_FABRIC.relative_to(ROOT / "pcilu_cli").parts


def test_without_pylibfdt_booting_is_one_line_exit_3(tmp_path):
    code = ("import sys; sys.modules['libfdt'] = None\n"
            "from pcilu_cli.cli import main\n"
            f"main(['init', {str(ROOT / 'fixtures/fabrics/switch.yaml')!r}, '-o', 'g.elf'])\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    (line,) = r.stderr.splitlines()
    assert line.startswith("pcilu: error:") and "pip install 'pcilu[fdt]'" in line
    assert os.listdir(tmp_path) == []                  # no state file, no litter


def _setuptools_ok() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _fresh_clone(tmp_path):
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                      capture_output=True).returncode:
        pytest.skip("not a git checkout")
    clone = tmp_path / "pcilu-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    return clone


def _pip_wheel(source, dist):
    """A wheel of ``source`` (a source tree or an sdist) with this venv's pip, offline."""
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
             str(source)]
    if _setuptools_ok():
        build.insert(-1, "--no-build-isolation")       # offline: this venv's setuptools
    subprocess.run(build, check=True, timeout=600)
    (wheel,) = dist.glob("pcilu-*.whl")
    return wheel


def _installed_runs_the_examples(wheel, tmp_path):
    """Install ``wheel`` into a new venv; in an empty directory, `pcilu examples --copy ex &&
    pcilu rehearse ex/scenarios/` is green and `import pcilu` is the installed one."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    f"{wheel}[fdt]"], check=True, timeout=900)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pcilu = str(venv / "bin" / "pcilu")
    sh = subprocess.run(f"{pcilu} examples --copy ex && {pcilu} rehearse ex/scenarios/ "
                        "--no-log", shell=True, cwd=empty, env=env, capture_output=True,
                        text=True, timeout=600)
    assert sh.returncode == 0, sh.stdout[-2000:] + sh.stderr
    n = len(list((ROOT / "fixtures" / "scenarios").glob("*.yaml")))
    assert sh.stdout.rstrip().splitlines()[-1] == f"{n} passed, 0 failed"
    api = subprocess.run([str(py), "-c", "import pcilu; print(pcilu.__file__)"], cwd=empty,
                         env=env, capture_output=True, text=True, timeout=120)
    assert str(venv) in api.stdout


@pytest.mark.slow
def test_a_wheel_from_a_fresh_clone_runs_the_examples_in_an_empty_directory(tmp_path):
    wheel = _pip_wheel(_fresh_clone(tmp_path), tmp_path / "dist")
    import zipfile
    shipped = zipfile.ZipFile(wheel).namelist()
    assert "pcilu_cli/data/examples/scenarios/qemu-virtio-net.yaml" in shipped
    assert "pcilu/__init__.py" in shipped
    _installed_runs_the_examples(wheel, tmp_path)


@pytest.mark.slow
def test_an_sdist_from_a_fresh_clone_holds_the_examples_and_installs(tmp_path):
    """pcilu_cli/data/examples are symlinks to fixtures/ in the repository: the sdist must hold
    the files themselves (an sdist unpacked elsewhere has no fixtures/ to point to)."""
    clone = _fresh_clone(tmp_path)
    sdists = tmp_path / "sdist"
    if not _setuptools_ok():
        pytest.skip("setuptools >= 77 is needed to build the sdist offline")
    subprocess.run([sys.executable, "-c", "import sys\nfrom setuptools import build_meta\n"
                    "build_meta.build_sdist(sys.argv[1])", str(sdists)], cwd=clone,
                   check=True, timeout=600, capture_output=True)
    (sdist,) = sdists.glob("pcilu-*.tar.gz")
    import tarfile
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
    examples = {k: m for k, m in members.items() if k.startswith("pcilu_cli/data/examples/")}
    scenario = "pcilu_cli/data/examples/scenarios/qemu-virtio-net.yaml"
    assert scenario in examples and examples[scenario].isfile()
    assert not [k for k, m in examples.items() if m.issym() or m.islnk()]
    n = len(list((ROOT / "fixtures" / "scenarios").glob("*.yaml")))
    assert len([k for k in examples if k.startswith("pcilu_cli/data/examples/scenarios/")
                and k.endswith(".yaml")]) == n
    assert "LICENSE" in members and "pcilu/__init__.py" in members
    _installed_runs_the_examples(_pip_wheel(sdist, tmp_path / "dist"), tmp_path)


def test_man_pages_cover_every_command_and_render_cleanly(tmp_path):
    import shutil
    from pcilu_cli.cli import COMMANDS
    from pcilu_cli.cli.manpage import main
    main([str(tmp_path)])
    names = {p.name for p in tmp_path.iterdir()}
    assert {f"pcilu-{c}.1" for c in COMMANDS} | {"pcilu.1"} <= names
    verify = (tmp_path / "pcilu-verify.1").read_text()
    for opt in ("--json", "--ktap", "--junit"):
        assert f".B \\-\\-{opt[2:]}" in verify
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    for p in sorted(tmp_path.iterdir()):
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(p)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr, f"{p.name}: {r.stderr}"
