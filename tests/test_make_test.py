"""`make test` on a fresh machine: it finds, or installs, what the suite needs from the system
(Chromium for the viewer's browser test, PostgreSQL for the sql tests) before pytest runs,
through .ci/system-packages, the script .ci/run relies on too."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = ROOT / ".ci" / "system-packages"
#: What the script runs besides the package manager.
TOOLS = ("bash", "id", "ls", "tail", "dirname", "env", "chmod")


def test_make_test_gets_the_system_packages_before_pytest() -> None:
    plan = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    steps = [i for i, line in enumerate(plan) if "system-packages" in line or "pytest" in line]
    assert [("system-packages" in plan[i]) for i in steps] == [True, False], plan


def _bin_with(tmp_path: Path, apt_log: Path) -> Path:
    """A PATH folder with the script's tools and an apt-get that notes what it is asked and
    "installs" chromium (an executable that does nothing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    apt = bin_dir / "apt-get"
    apt.write_text(
        "#!/bin/bash\n"
        f'echo "$@" >> {apt_log}\n'
        'if [ "$1" = install ]; then\n'
        f'  printf "#!/bin/sh\\n" > {bin_dir}/chromium; chmod +x {bin_dir}/chromium\n'
        f'  printf "#!/bin/sh\\n" > {bin_dir}/initdb; chmod +x {bin_dir}/initdb\n'
        "fi\n"
    )
    apt.chmod(0o755)
    return bin_dir


def test_a_missing_browser_is_installed_with_apt_get(tmp_path: Path) -> None:
    apt_log = tmp_path / "apt.log"
    bin_dir = _bin_with(tmp_path, apt_log)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    if os.geteuid() != 0:  # not root and no sudo on this PATH: it says what to install
        assert done.returncode == 1 and "the tests need: chromium" in done.stderr, done.stderr
        assert not apt_log.exists()
        return
    assert done.returncode == 0, done.stderr
    asked = apt_log.read_text().splitlines()
    assert asked[0] == "update -qq"
    assert asked[1].startswith("install -y -qq chromium")
    assert f"chromium: {bin_dir}/chromium" in done.stderr


def test_what_is_found_is_not_installed(tmp_path: Path) -> None:
    apt_log = tmp_path / "apt.log"
    bin_dir = _bin_with(tmp_path, apt_log)
    for name in ("chromium", "initdb"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    done = subprocess.run(
        ["bash", str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert not apt_log.exists()
    assert f"chromium: {bin_dir}/chromium; postgresql: {bin_dir}" in done.stderr
