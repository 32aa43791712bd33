"""Fleet status (issue 21 point 3): which Ray groups run what, and what to do about each.

* :mod:`.fleet`: the objects, from the live cluster (one ``kubectl get``) or ``--from`` files;
* :mod:`.rows`: objects + registry facts -> one :class:`~.rows.Row` per group (pure);
* :mod:`.report`: the facts from the registry, the table or ``--json``, the exit code.
"""

from .fleet import kubectl_argv
from .report import do_status, release_ref
from .rows import ACTIONS, Facts, Result, Row, rows

__all__ = ["ACTIONS", "Facts", "Result", "Row", "do_status", "kubectl_argv", "release_ref", "rows"]
