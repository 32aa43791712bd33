"""Build, test, push and roll out the Ray worker image of the SWE AI fleet.

One module per pipeline step; :mod:`ray_worker_image.cli` is the command (the console script
``ray-worker-image``, and ``invoke`` in the clone through its root ``tasks.py``).
"""
