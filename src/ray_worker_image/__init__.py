"""Build, test, push and roll out the Ray worker image of the SWE AI fleet.

One module per pipeline step; ``tasks.py`` at the repository root is the CLI.
"""
