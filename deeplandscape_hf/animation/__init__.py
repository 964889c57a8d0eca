"""Animating a photo: photo -> sky mask -> latents -> fine-tuned G -> frames -> video.

Owns image loading and cropping (``images``), sky segmentation (``segmentation``), the perceptual losses of the
inversion (``perceptual``), inversion and fine-tuning of G (``inversion``), moving the photo's own pixels
(``photo_motion``, ``colour_transfer``, ``compositing``), the end-to-end ``DeepLandscapePipeline`` (``pipeline``) and
video files (``video``). May import ``networks``, ``motion`` and ``vocabulary``; never training, evaluation or
conversion.
"""
