"""memindex's write side: decode a video once, run each stage, and commit what it found to the store."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
