"""``python -m lossbench.cli``: the ``lossbench`` command."""

import sys

from lossbench.cli import main

sys.exit(main())
