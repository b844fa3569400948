"""A thin async PocketBase client: superuser auth, records, collections import.

Auth: PocketBase treats an expired or invalid token as a *guest* instead of failing (lists come back
empty, writes get 403). So the client decodes the JWT's ``exp`` and logs in again shortly before it
runs out, and treats any 401/403 as "log in again, then retry once".
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import SecretStr

from shared.errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    InvalidInput,
    NotFoundError,
    UnavailableError,
)
from shared.logging import get_logger

log = get_logger()

# Log in again this long before the token's ``exp`` (a fifth of a shorter token's lifetime).
_REFRESH_MARGIN_SECONDS = 300
_MAX_PER_PAGE = 1000  # PocketBase silently caps perPage here.

Record = dict[str, Any]


class PocketBaseError(UnavailableError):
    """An unexpected answer from PocketBase (5xx, malformed body, unreachable)."""


class RecordValidationError(InvalidInput):
    """PocketBase refused a record: ``field_errors`` maps field → code (e.g. ``validation_not_unique``)."""

    def __init__(self, collection: str, field_errors: dict[str, str], message: str) -> None:
        fields = ", ".join(f"{k} ({v})" for k, v in sorted(field_errors.items())) or message
        super().__init__(collection, f"PocketBase rejected the record: {fields}")
        self.field_errors = field_errors

    @property
    def not_unique(self) -> bool:
        return any(code == "validation_not_unique" for code in self.field_errors.values())


class PocketBase:
    """Superuser client for one PocketBase instance. Use as ``async with PocketBase(...) as pb``."""

    def __init__(
        self,
        base_url: str,
        email: str,
        password: SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._email = email
        self._password = password
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Accept": "application/json"},
        )
        self._token: str | None = None
        self._token_exp = 0.0
        self._margin = float(_REFRESH_MARGIN_SECONDS)
        self._auth_lock = asyncio.Lock()
        self._clock = clock

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- auth ----------------------------------------------------------------------------------------

    async def login(self) -> None:
        """Log in with the superuser password; raises ``AuthError`` with advice when refused."""
        try:
            response = await self._http.post(
                "/api/collections/_superusers/auth-with-password",
                json={"identity": self._email, "password": self._password.get_secret_value()},
            )
        except httpx.HTTPError as err:
            raise PocketBaseError(
                f"PocketBase at {self.base_url} is unreachable ({type(err).__name__})",
                advice="check CFA_POCKETBASE_URL and that PocketBase is running",
            ) from err
        if response.status_code in (400, 401, 403):
            raise AuthError(
                f"PocketBase refused the superuser login for {self._email}",
                advice="check CFA_POCKETBASE_EMAIL / CFA_POCKETBASE_PASSWORD (a superuser account)",
            )
        if response.status_code == 429:
            raise PocketBaseError(
                "PocketBase rate-limited the superuser login", advice="retry in a few seconds"
            )
        self._raise_for_status(response, "login")
        token = str(response.json()["token"])
        self._token = token
        self._token_exp = _jwt_exp(token)
        lifetime = self._token_exp - self._clock()
        self._margin = min(float(_REFRESH_MARGIN_SECONDS), max(lifetime, 0.0) / 5)
        log.debug("pocketbase.logged_in", expires_in=round(lifetime))

    async def _auth_header(self) -> dict[str, str]:
        async with self._auth_lock:
            if self._token is None or self._clock() > self._token_exp - self._margin:
                await self.login()
        assert self._token is not None
        return {"Authorization": self._token}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send an authenticated request; on 401/403 log in again and retry exactly once."""
        for attempt in (1, 2):
            headers = await self._auth_header()
            try:
                response = await self._http.request(method, path, headers=headers, **kwargs)
            except httpx.HTTPError as err:
                raise PocketBaseError(
                    f"PocketBase {method} {path} failed ({type(err).__name__})",
                    advice="check that PocketBase is running and reachable",
                ) from err
            if response.status_code in (401, 403) and attempt == 1:
                log.info("pocketbase.relogin", status=response.status_code)
                async with self._auth_lock:
                    self._token = None
                continue
            return response
        return response

    async def authenticate(self, collection: str, identity: str, password: str) -> Record | None:
        """Check someone else's credentials against auth collection ``collection`` (this client's own
        superuser session is untouched): their record, or None when PocketBase refuses them. The token
        PocketBase issues is dropped: the caller keeps its own session."""
        try:
            response = await self._http.post(
                f"/api/collections/{collection}/auth-with-password",
                json={"identity": identity, "password": password},
            )
        except httpx.HTTPError as err:
            raise PocketBaseError(
                f"PocketBase at {self.base_url} is unreachable ({type(err).__name__})",
                advice="check that PocketBase is running",
            ) from err
        if response.status_code in (400, 404):  # wrong credentials, or no such collection
            return None
        if response.status_code == 429:
            raise PocketBaseError("PocketBase rate-limited the sign-in", advice="retry in a few seconds")
        self._raise_for_status(response, f"sign in to {collection}")
        record: Record = response.json()["record"]
        return record

    # --- records -------------------------------------------------------------------------------------

    async def list_records(
        self,
        collection: str,
        *,
        filter: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        fields: str | None = None,
    ) -> list[Record]:
        """All records matching ``filter`` (built with ``pb_filter``), across pages, up to ``limit``;
        ``fields``: only these (comma separated)."""
        records: list[Record] = []
        page = 1
        per_page = min(limit or _MAX_PER_PAGE, _MAX_PER_PAGE)
        while True:
            body = await self._list(
                collection, page=page, per_page=per_page, filter=filter, sort=sort, fields=fields, count=False
            )
            items: list[Record] = body["items"]
            records.extend(items)
            if len(items) < per_page or (limit is not None and len(records) >= limit):
                return records[:limit] if limit is not None else records
            page += 1

    async def page(
        self,
        collection: str,
        *,
        page: int = 1,
        per_page: int = 50,
        filter: str | None = None,
        sort: str | None = None,
    ) -> tuple[list[Record], int]:
        """One page of records matching ``filter`` (built with ``pb_filter``) and how many match in all."""
        body = await self._list(collection, page=max(page, 1), per_page=per_page, filter=filter, sort=sort)
        return list(body["items"]), int(body["totalItems"])

    async def _list(
        self,
        collection: str,
        *,
        page: int,
        per_page: int,
        filter: str | None,
        sort: str | None,
        fields: str | None = None,
        count: bool = True,
    ) -> Record:
        params: dict[str, str | int] = {"page": page, "perPage": min(per_page, _MAX_PER_PAGE)}
        if not count:
            params["skipTotal"] = 1
        for name, value in (("filter", filter), ("sort", sort), ("fields", fields)):
            if value:
                params[name] = value
        response = await self.request("GET", f"/api/collections/{collection}/records", params=params)
        self._raise_for_status(response, f"list {collection}")
        body: Record = response.json()
        return body

    async def first(self, collection: str, filter: str, *, sort: str | None = None) -> Record | None:
        items = await self.list_records(collection, filter=filter, sort=sort, limit=1)
        return items[0] if items else None

    async def get_record(self, collection: str, record_id: str) -> Record:
        response = await self.request("GET", f"/api/collections/{collection}/records/{record_id}")
        if response.status_code == 404:
            raise NotFoundError(f"no {collection} record {record_id}")
        self._raise_for_status(response, f"get {collection}")
        record: Record = response.json()
        return record

    async def create_record(self, collection: str, data: Record) -> Record:
        response = await self.request("POST", f"/api/collections/{collection}/records", json=data)
        self._raise_for_status(response, f"create {collection}", collection=collection)
        record: Record = response.json()
        return record

    async def update_record(self, collection: str, record_id: str, data: Record) -> Record:
        response = await self.request(
            "PATCH", f"/api/collections/{collection}/records/{record_id}", json=data
        )
        if response.status_code == 404:
            raise NotFoundError(f"no {collection} record {record_id}")
        self._raise_for_status(response, f"update {collection}", collection=collection)
        record: Record = response.json()
        return record

    async def delete_record(self, collection: str, record_id: str) -> None:
        response = await self.request("DELETE", f"/api/collections/{collection}/records/{record_id}")
        if response.status_code == 404:
            return
        self._raise_for_status(response, f"delete {collection}")

    # --- collections ---------------------------------------------------------------------------------

    async def get_collection(self, name: str) -> Record | None:
        response = await self.request("GET", f"/api/collections/{name}")
        if response.status_code == 404:
            return None
        self._raise_for_status(response, f"get collection {name}")
        collection: Record = response.json()
        return collection

    async def import_collections(self, collections: list[Record]) -> None:
        """Create or update collections in one transaction; never deletes anything (deleteMissing=false)."""
        response = await self.request(
            "PUT", "/api/collections/import", json={"collections": collections, "deleteMissing": False}
        )
        if response.status_code == 400:
            raise ConflictError(
                f"PocketBase refused the schema import: {_error_text(response)}",
                advice="the existing collections conflict with ours; see the message for the field",
            )
        self._raise_for_status(response, "import collections")

    async def health(self) -> bool:
        try:
            response = await self._http.get("/api/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # --- errors --------------------------------------------------------------------------------------

    def _raise_for_status(self, response: httpx.Response, action: str, *, collection: str = "") -> None:
        if response.status_code < 400:
            return
        if response.status_code == 400 and collection:
            body = _json(response)
            data = body.get("data") if isinstance(body, dict) else None
            field_errors = {
                str(field): str(err.get("code", "invalid"))
                for field, err in (data or {}).items()
                if isinstance(err, dict)
            }
            raise RecordValidationError(collection, field_errors, _error_text(response))
        if response.status_code in (401, 403):
            raise AuthError(
                f"PocketBase denied {action} ({response.status_code}: {_error_text(response)})",
                advice="the account must be a PocketBase superuser",
            )
        if response.status_code == 404:
            # A missing collection: the schema was never migrated (a configuration problem, not a
            # missing record; records are looked up with get_record).
            raise ConfigurationError(
                f"PocketBase: {action}: the collection does not exist", advice="run `cfa pb migrate` first"
            )
        raise PocketBaseError(f"PocketBase {action} failed: {response.status_code} {_error_text(response)}")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_text(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        message = str(body.get("message", ""))
        data = body.get("data")
        if data:
            return f"{message} {json.dumps(data, sort_keys=True)}".strip()
        return message
    return response.text[:200]


def _jwt_exp(token: str) -> float:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except (IndexError, KeyError, ValueError) as err:
        raise PocketBaseError("PocketBase returned a token that is not a JWT with exp") from err
