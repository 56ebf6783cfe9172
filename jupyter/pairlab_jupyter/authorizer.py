"""What a logged-in person may do: all an interview needs, not stopping the server.

Stopping the server would end the session for both people and lose the kernel, so
neither link can do it; the interviewer stops the stack with `docker compose`.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.authorizer import Authorizer

# (action, resource) pairs no link may perform, as jupyter_server names them.
FORBIDDEN = {("write", "server")}


class PairlabAuthorizer(Authorizer):
    """Allows every request a person makes except those in FORBIDDEN."""

    def is_authorized(
        self, handler: Any, user: Any, action: str, resource: str
    ) -> bool:
        if (action, resource) in FORBIDDEN:
            self.log.warning(
                "Refused %s %s for %s: stop the interview with docker compose instead",
                action,
                resource,
                user.username,
            )
            return False
        return True
