"""Training the networks: data, losses, schedule, checkpoints, EMA, run control and the three training loops.

- data: the multi-resolution cache of photos and videos (``data``), reproducible sample streams over it
  (``datasets``), procedural stand-in data (``procedural``);
- the GAN: configs and the progressive-growing schedule (``configs``, ``schedule``), losses and EMA (``losses``,
  ``ema``), one iteration (``gan_step``), its real-data samplers (``gan_data``) and the loop (``gan.train_gan``);
- E and A on samples of a frozen G: the shared loop (``supervised``), ``encoder.train_encoder``,
  ``dynamics.train_dynamics``;
- every run: input checks, accelerator, checkpoints of the run, exit (``run``), verified checkpoint folders
  (``checkpoint``), stop signals and the output-folder lock (``run_control``), the hub export (``export``).

``train_accelerate.py`` at the repository root only parses flags and calls ``train_gan`` / ``train_encoder`` /
``train_dynamics`` / ``gan_data.run_prepare`` with the parsed namespace; a notebook can call them the same way, e.g.
with ``train_accelerate.parse_args(["gan", "--config", "tiny", ...])``. May import ``networks``, ``motion``,
``animation`` (sample videos) and ``vocabulary``; never evaluation or conversion.
"""
