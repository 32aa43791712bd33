"""The registry seam: every request the project's own code sends to a registry.

- :mod:`.access`: pure values: :class:`RegistryAccess` (address, TLS/insecure) and
  :class:`Credentials`.
- :mod:`.destination`: :class:`Destination`, resolved once from the options and carried
  by the release plan; ``destination.repository(NAME)`` gives a repository object.
- :mod:`.transport`: the one HTTP transport (timeout, tenacity retries honouring
  ``Retry-After``, auth), :mod:`.auth` (Basic, scoped Bearer tokens) and
  :mod:`.failures` (the one mapping to one-line errors).
- :mod:`.repository`: :class:`Repository`, every read and write (manifests, blobs, tags,
  deletes, the referrers API); :mod:`.referrers`: attach/list/remove referrers with the
  tag-schema fallback decided from the registry's answer; :mod:`.content`: pure OCI facts.

The engines still upload images themselves; they get ``Destination.access`` and its
credentials. No other module imports requests, urllib3 or oras to talk to a registry
(tests/unit/test_registry_seam.py scans ``src/``). Layer: below push/release/supply,
above errors/refs.
"""

from .access import Credentials, RegistryAccess, api_host
from .destination import Destination
from .repository import Put, Repository
from .transport import ATTEMPTS, MAX_RETRY_SECONDS, TIMEOUT, Transport

__all__ = [
    "ATTEMPTS",
    "MAX_RETRY_SECONDS",
    "TIMEOUT",
    "Credentials",
    "Destination",
    "Put",
    "RegistryAccess",
    "Repository",
    "Transport",
    "api_host",
]
