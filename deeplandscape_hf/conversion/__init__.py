"""Reading the authors' released checkpoints: ``checkpoint_file`` opens their files without executing their pickles,
``official`` maps the tensors onto our networks and writes a model folder with the authors' style vocabulary.

May import ``networks`` and ``motion`` only.
"""
