"""The old path of :mod:`parvis_verifier.trustee`, which ships in the standalone verifier
distribution (``verifier/``, ADR 0020). This module *is* that module (the same object in
``sys.modules``), so the server's imports, its monkeypatches and ``python -m`` keep working
and no code is copied.
"""

import sys

from parvis_verifier import trustee as _module
from parvis_verifier.trustee import *  # noqa: F403

# Names outside its __all__ that the server imports from this path (explicit re-exports).
from parvis_verifier.trustee import CEREMONY_FORMAT as CEREMONY_FORMAT  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import CONTEXT_FORMAT as CONTEXT_FORMAT  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import PARTIALS_FORMAT as PARTIALS_FORMAT  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import SETUP_FORMAT as SETUP_FORMAT  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import SHARE_KIND as SHARE_KIND  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import SIGNATURE_FORMAT as SIGNATURE_FORMAT  # noqa: PLC0414 - explicit re-export
from parvis_verifier.trustee import SUMS_FORMAT as SUMS_FORMAT  # noqa: PLC0414 - explicit re-export

if __name__ == "__main__":
    raise SystemExit(_module.main())

sys.modules[__name__] = _module
