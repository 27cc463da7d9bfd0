"""Print a command from README.md's Quick start block: ``serve`` (the first) or ``test`` (the second).

CI runs the README's own test command through this, so the README cannot drift from CI.
"""

import re
import sys
from pathlib import Path

readme = Path(__file__).resolve().parents[1] / "README.md"
section = readme.read_text().split("## Quick start", 1)[1]
block = re.search(r"```(?:bash|sh|console)?\n(.*?)```", section, re.S).group(1)
commands = [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]
if len(commands) != 2:
    sys.exit(f"README Quick start must hold exactly two commands, found {len(commands)}")
print(commands[{"serve": 0, "test": 1}[sys.argv[1]]])
