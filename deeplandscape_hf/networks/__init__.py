"""The networks: generator G, image and pairwise discriminators, encoder E, style-dynamics network A.

Owns the layers they are built from (``layers``), the hub save/load mixin and model-folder resolution they share
(``hub``), and synthetic video sampling from G alone (``synthetic``: one z, noise warped by a motion, a time-of-day
path). May import ``deeplandscape_hf.motion`` and ``deeplandscape_hf.vocabulary``; never animation, training,
evaluation or conversion.
"""
