"""The exit codes of every task, in one place (README "Exit codes").

===  ==========================================================================
0    success
1    a check found a difference or a failure (--check, verify, lock --check,
     contract, in-image tests), or a step failed (build, push refused...)
2    a usage or input error (flag, environment variable, config file, definition,
     image reference); under plain ``invoke`` invoke's own parse errors stay 1
3    could not run: the engine, the registry or the network does not answer
130  interrupted (Ctrl-C); 141 the reader of stdout went away (a closed pipe)
===  ==========================================================================
"""

from __future__ import annotations

from ..errors import CheckFailed, PipelineError, Unavailable, UsageError

OK = 0
FAILED = 1
USAGE = 2
UNAVAILABLE = 3
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head -1`); nothing is said

# Most specific first: RegistryUnavailable is a PushError and an Unavailable.
TABLE: tuple[tuple[type[PipelineError], int], ...] = (
    (Unavailable, UNAVAILABLE),
    (UsageError, USAGE),
    (CheckFailed, FAILED),
    (PipelineError, FAILED),
)


def code_for(exc: PipelineError) -> int:
    """The exit code of ``exc``: the first row of :data:`TABLE` it is an instance of."""
    return next(code for kind, code in TABLE if isinstance(exc, kind))
