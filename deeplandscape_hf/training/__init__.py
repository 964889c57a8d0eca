"""Training the networks: data, losses, schedule, checkpoints, EMA, run control and the training loops.

Owns the data cache of photos and videos (``data``) and the procedural stand-in data (``procedural``), the GAN
configs and progressive-growing schedule (``configs``, ``schedule``), losses and EMA (``losses``, ``ema``), resumable
verified checkpoints (``checkpoint``) and the stop-signal / output-lock machinery (``run_control``).
``train_accelerate.py`` at the repository root is the command line over it. May import ``networks``, ``motion``,
``animation`` (sample videos) and ``vocabulary``; never evaluation or conversion.
"""
