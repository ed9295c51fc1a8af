"""Importing deepscope is light and silent."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light_and_silent():
    code = (
        "import sys, deepscope, deepscope.registry, deepscope.config, deepscope.results;"
        "heavy = [m for m in ('torch', 'matplotlib', 'sklearn', 'scipy', 'mnist1d')"
        " if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "HEAVY []"
    assert proc.stderr == ""


def test_listing_experiments_does_not_import_torch():
    code = (
        "import sys; from deepscope.registry import experiments; experiments();"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
