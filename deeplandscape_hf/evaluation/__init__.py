"""Measuring results: the metric arithmetic (``metrics``) and the protocols that decide what is compared with what.

``protocols`` finds and pairs files, runs the inversion sweep and the synthetic/balance comparisons and builds the
tables behind ``deeplandscape evaluate``; its public names are re-exported here. May import ``animation``,
``networks`` and ``motion``; never training or conversion.
"""

from .protocols import *  # noqa: F403
from .protocols import __all__  # noqa: F401
