"""Named moments at which the crash tests stop a refresh to SIGKILL it (tests/reliability/test_crash_recovery.py).

Some moments (inside the raw merge transaction, between the snapshot's fsync and its swap) last
milliseconds, too short to hit from outside. With ENGAGEMENT_TEST_PAUSE_AT=<name> the process
marks the moment with a file `<near>.paused-<name>` and waits there to be killed. Unset (always,
outside those tests) this does nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_VARIABLE = "ENGAGEMENT_TEST_PAUSE_AT"


def armed(name: str) -> bool:
    return os.environ.get(PAUSE_VARIABLE) == name


def pause_point(name: str, near: str | os.PathLike) -> None:
    if os.environ.get(PAUSE_VARIABLE) != name:
        return
    Path(f"{near}.paused-{name}").touch()
    time.sleep(300)
