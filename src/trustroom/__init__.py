"""trustroom: confidential computing for Python.

Verify real TEE evidence (:mod:`trustroom.evidence`), with more layers to come: attested key
release, sealed files, enclaves, multi-party computation and a verifiable ledger.
"""

from trustroom._core.errors import TrustroomError

__all__ = ["TrustroomError", "__version__"]
__version__ = "0.1.0"
