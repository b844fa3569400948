"""What every admin handler needs: the process's runtime (shared clients), the web plumbing, sessions
and sign-in, and a Context for running an operation as the signed-in operator."""

from __future__ import annotations

from dataclasses import dataclass

from functions.admin.sessions import Session, Sessions
from functions.admin.signin import SignIn
from functions.admin.web import Web
from functions.context import Context
from functions.runtime import Runtime

# An action waits this long for the tenant's lock when the event functions are busy with the tenant.
LOCK_WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class Admin:
    rt: Runtime
    web: Web
    sessions: Sessions
    signin: SignIn

    def context(self, session: Session) -> Context:
        """A Context on the shared clients whose audit actor is the operator (``operator:<email>``)."""
        ctx = self.rt.context()
        ctx.settings = ctx.settings.model_copy(update={"actor": session.operator.actor})
        ctx.lock_wait = LOCK_WAIT_SECONDS
        return ctx
