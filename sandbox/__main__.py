"""`python -m sandbox` is the `task-sandbox` command."""
import sys

from sandbox.tools.cli import main

sys.exit(main())
