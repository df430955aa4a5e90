"""A script saved beside a folder named `gossamer` (a clone of this repository, say) imports the
installed package, not that folder.

With the old flat layout the editable install was found by a finder that Python asks only after
the script's own folder, where `gossamer/` (no __init__.py) already passed as a namespace package:
`cannot import name 'LLM' from 'gossamer' (unknown location)`. The src layout installs a plain
path entry, and a regular package anywhere on the path wins over a namespace one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_folder_named_gossamer_beside_a_script_does_not_shadow_the_package(tmp_path: Path) -> None:
    (tmp_path / "gossamer").mkdir()  # e.g. `git clone ... gossamer` next to the user's script
    script = "import gossamer\nfrom gossamer import LLM\nprint(gossamer.__file__)\n"
    (tmp_path / "script.py").write_text(script)
    # No PYTHONPATH: the package as installed (scripts/setup.sh), the way a user's script finds it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).parent.name == "gossamer"
    assert not Path(result.stdout.strip()).is_relative_to(tmp_path)
