"""How a rule's script runs its ``main``: a failure's traceback also goes to the rule's log,
so that ``--show-failed-logs`` prints it wherever the job ran (on a cluster node the job's
stderr lands in the scheduler's log file, which Snakemake does not print)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any


def run_script(main: Callable[[Any], Any], smk: Any) -> Any:
    """Call ``main(smk)``; on an exception append its traceback to ``smk.log[0]`` and re-raise."""
    try:
        return main(smk)
    except BaseException:
        if len(smk.log):
            with open(smk.log[0], "a") as fh:
                traceback.print_exc(file=fh)
        raise
