"""pyiceberg's REST catalog with its CA file kept over REQUESTS_CA_BUNDLE (see ``catalog``)."""

from __future__ import annotations

from typing import Any

from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.rest.auth import AuthManager
from requests import Session


class PinnedCaRestCatalog(RestCatalog):
    """A RestCatalog whose requests verify the server with ``ssl.cabundle`` even when the
    environment names another CA bundle (requests prefers the environment's otherwise), the
    OAuth2 token request of a ``credential`` login included: pyiceberg makes that one while it
    builds the session, so the session is pinned before its login is made."""

    def _create_session(self) -> Session:
        return self._pin(super()._create_session())

    def _create_legacy_oauth2_auth_manager(self, session: Session) -> AuthManager:
        return super()._create_legacy_oauth2_auth_manager(self._pin(session))

    def _pin(self, session: Session) -> Session:
        ca = (self.properties.get("ssl") or {}).get("cabundle")
        if ca and not getattr(session, "_streamapp_pinned", False):
            merge = session.merge_environment_settings

            def pinned(*args: Any, **kwargs: Any) -> dict[str, Any]:
                settings: dict[str, Any] = merge(*args, **kwargs)
                settings["verify"] = ca
                return settings

            session.merge_environment_settings = pinned  # type: ignore[method-assign]
            session._streamapp_pinned = True  # type: ignore[attr-defined]
        return session
