"""``python -m ray_worker_image.cli``: the console script."""

from .program import main

main()
