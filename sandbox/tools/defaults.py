"""Where the command-line tools find a running sandbox: $TASK_SANDBOX_URL, else the default port."""
from __future__ import annotations

import os

URL_VARIABLE = "TASK_SANDBOX_URL"
LOCAL_URL = "http://127.0.0.1:4010"


def base_url() -> str:
    """Read when a tool's options are built, so each run sees the environment it was started in."""
    return os.environ.get(URL_VARIABLE) or LOCAL_URL
