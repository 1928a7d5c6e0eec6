"""The service layer: the use cases that web, tasks and the command line call.

Each use case takes a session and an Actor, leaves committing to the caller
(``publisher.store.session_scope``) and refuses with a ServiceError that
names the field and the reason.
"""

from publisher.services.actors import Actor
from publisher.services.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthenticated,
)
from publisher.services.issuer import Issuer
from publisher.services.signer import CenterSigner

__all__ = [
    "Actor",
    "CenterSigner",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "Issuer",
    "NotFound",
    "ServiceError",
    "TooLarge",
    "Unauthenticated",
]
