"""memindex's read side: a retrieval agent that walks the memory hierarchy coarse-to-fine, stops when the
evidence is sufficient or the budget is spent, and answers with timestamped evidence.

The core finds it through the ``memindex.agents`` entry point (``default = memindex.query.agent:Agent``)."""

import logging

from memindex.query.agent import Agent, Answer, Budget, Step
from memindex.query.tools import TOOL_SCHEMAS, Evidence, Toolbox

__all__ = ["Agent", "Answer", "Budget", "Step", "Evidence", "Toolbox", "TOOL_SCHEMAS"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
