"""``python -m memindex``: the same command line as ``memindex``."""

import sys

from memindex.cli import main

sys.exit(main())
