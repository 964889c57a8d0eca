"""Reading the authors' released checkpoints into our networks (``official``), without executing their pickles.

May import ``networks`` only.
"""
