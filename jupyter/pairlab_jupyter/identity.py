"""Named candidate and interviewer logins for Jupyter, from the interview's access file.

The datagen service writes the access file before Jupyter starts. It holds, for each
person, a name, a colour and the SHA-256 of their token; the plaintext tokens go only
to the ngrok service, which prints the links. Code in the candidate's kernel can read
this file, so it must never hold anything that lets one person log in as the other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.websocket import WebSocketHandler
from traitlets import Unicode

DEFAULT_ACCESS_FILE = "/run/pairlab/access/access.json"


class AccessFileError(Exception):
    """The access file is missing or malformed; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class Person:
    """One person who may log in, as the access file describes them."""

    username: str
    role: str
    name: str
    color: str
    token_sha256: str

    @property
    def initials(self) -> str:
        words = self.name.split()
        letters = "".join(word[0] for word in words[:2]) or self.username[0]
        return letters.upper()

    def as_user(self) -> User:
        return User(
            username=self.username,
            name=self.name,
            display_name=self.name,
            initials=self.initials,
            color=self.color,
        )


@dataclass(frozen=True, kw_only=True)
class Access:
    """Who may log in, and until when the candidate may."""

    people: dict[str, Person]
    started_at: datetime
    interview_minutes: float

    @property
    def candidate_deadline(self) -> datetime | None:
        if self.interview_minutes <= 0:
            return None
        return self.started_at + timedelta(minutes=self.interview_minutes)

    def person_for_token(self, token: str) -> Person | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        for person in self.people.values():
            # Compare every entry in constant time, so timing says nothing of tokens.
            if hmac.compare_digest(digest, person.token_sha256):
                return person
        return None

    def may_enter(self, person: Person, *, now: datetime) -> bool:
        deadline = self.candidate_deadline
        return person.role != "candidate" or deadline is None or now < deadline


def without_token(path: str, query: str) -> str:
    """The request's own address with the `token` argument taken out of its query."""
    # The other arguments keep their exact spelling: Lab reads a bare `?reset`.
    kept = [
        part
        for part in query.split("&")
        if unquote_plus(part).partition("=")[0] not in {"", "token"}
    ]
    # A path of "//host/..." would read as another site in a Location header.
    address = "/" + path.lstrip("/")
    return f"{address}?{'&'.join(kept)}" if kept else address


def load_access(path: Path) -> Access:
    """Read and check the access file that the datagen service wrote."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        people = {
            entry["username"]: Person(
                username=entry["username"],
                role=entry["role"],
                name=entry["name"],
                color=entry["color"],
                token_sha256=entry["token_sha256"],
            )
            for entry in raw["users"]
        }
        started_at = datetime.fromisoformat(raw["started_at"])
        interview_minutes = float(raw["interview_minutes"])
    except FileNotFoundError:
        raise AccessFileError(
            f"{path} is missing: the datagen service writes it, so start the stack "
            "with `docker compose up -d` rather than starting jupyter alone."
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise AccessFileError(
            f"{path} is unreadable ({error!r}): run `docker compose down -v` and "
            "`docker compose up -d` to issue fresh links."
        ) from None
    return Access(
        people=people, started_at=started_at, interview_minutes=interview_minutes
    )


class PairlabIdentityProvider(IdentityProvider):
    """Logs in the candidate or the interviewer by their own token, under their name.

    The token arrives in the link (`?token=`), in an `Authorization: token` header or
    in the login form; afterwards a signed cookie carries the username. A page opened
    by its link is reloaded once without the token, so no script on the page can read
    it from the address. Every request re-reads who that username is, so a candidate
    whose time is up is refused even with a valid cookie.
    """

    access_file = Unicode(
        DEFAULT_ACCESS_FILE,
        config=True,
        help="Path of the JSON access file written by the datagen service.",
    )

    def _access(self) -> Access:
        return load_access(Path(self.access_file))

    async def get_user(self, handler: Any) -> User | None:
        user = await super().get_user(handler)
        if user is not None and self._token_in_page_address(handler, user):
            # The base class has set the login cookie by now. Any script that runs
            # on the page could read a token left in the address bar or in the
            # navigation history, so the browser is sent on to the same page
            # without it; the redirect ends the request before any handler writes.
            handler.set_status(302)
            handler.set_header(
                "Location", without_token(handler.request.path, handler.request.query)
            )
            raise web.Finish()
        return user

    def _token_in_page_address(self, handler: Any, user: User) -> bool:
        # API clients and websockets keep their token: they have no address bar,
        # and a redirect would break clients that send the token on every call.
        if (
            handler.request.method != "GET"
            or isinstance(handler, APIHandler | WebSocketHandler)
            or "/api/" in handler.request.path
            or handler.request.headers.get("Upgrade", "").lower() == "websocket"
        ):
            return False
        token = handler.get_query_argument("token", "")
        person = self._access().person_for_token(token) if token else None
        return person is not None and person.username == user.username

    def _admit(self, person: Person | None, *, via: str, handler: Any) -> User | None:
        if person is None:
            return None
        if not self._access().may_enter(person, now=datetime.now(UTC)):
            self.log.warning(
                "Refused %s login for %s from %s: the interview time is over",
                via,
                person.username,
                handler.request.remote_ip,
            )
            return None
        return person.as_user()

    async def get_user_token(self, handler: Any) -> User | None:
        token = self.get_token(handler)
        if not token:
            return None
        person = self._access().person_for_token(token)
        if person is None:
            self.log.warning(
                "Refused a request with a wrong token from %s for %s",
                handler.request.remote_ip,
                handler.request.path,
            )
        return self._admit(person, via="token", handler=handler)

    def user_from_cookie(self, cookie_value: str) -> User | None:
        username = json.loads(cookie_value).get("username")
        person = self._access().people.get(username)
        if person is None:
            return None
        if not self._access().may_enter(person, now=datetime.now(UTC)):
            return None
        return person.as_user()

    def process_login_form(self, handler: Any) -> User | None:
        typed = handler.get_argument("password", default="")
        person = self._access().person_for_token(typed) if typed else None
        if person is None:
            self.log.warning(
                "Refused a login form with a wrong token from %s",
                handler.request.remote_ip,
            )
        return self._admit(person, via="form", handler=handler)

    def generate_anonymous_user(self, handler: Any) -> User:
        # The base class invents "Anonymous" users for a shared token; here every
        # login is a named person, so reaching this is a bug worth failing loudly on.
        raise RuntimeError("pairlab never admits anonymous users")
