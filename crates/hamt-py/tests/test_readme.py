"""The project README's "From Python" examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def from_python_example() -> str:
    text = README.read_text()
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 2, "the section has two Python examples: HAMT, then sharded"
    return "\n".join(blocks)  # the second goes on from the first


def test_readme_example_runs(tmp_path) -> None:
    # In a fresh interpreter, as a user would run it (it calls asyncio.run).
    script = tmp_path / "example.py"
    script.write_text(from_python_example())
    out = subprocess.run([sys.executable, str(script)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    roots = out.stdout.split()
    assert len(roots) == 3 and all(r.startswith("bafyr") for r in roots), out.stdout
