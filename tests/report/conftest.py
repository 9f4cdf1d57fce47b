from __future__ import annotations

import sys
from pathlib import Path

# the fixture builder lives beside the warehouse tests
sys.path.insert(0, str(Path(__file__).parents[1] / "warehouse"))
