"""``python -m polyrot.haar A.npy B.npy ...``: Haar statistics of saved rotations."""

import sys

from polyrot.haar import main

sys.exit(main())
