"""Unit tests, one folder per subpackage of src/polyrot (bars/, haar/, neox/, steering/, toy/):
tests/unit/<sub>/test_<module>.py tests src/polyrot/<sub>/<module>.py. Helpers shared across
folders (toy_models.py) live here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
