"""pyiceberg's REST catalog with its CA file kept over REQUESTS_CA_BUNDLE (see ``catalog``)."""

from __future__ import annotations

from typing import Any

from pyiceberg.catalog.rest import RestCatalog
from requests import Session


class PinnedCaRestCatalog(RestCatalog):
    """A RestCatalog whose requests verify the server with ``ssl.cabundle`` even when the
    environment names another CA bundle (requests prefers the environment's otherwise)."""

    def _create_session(self) -> Session:
        session = super()._create_session()
        ca = (self.properties.get("ssl") or {}).get("cabundle")
        if ca:
            merge = session.merge_environment_settings

            def pinned(*args: Any, **kwargs: Any) -> dict[str, Any]:
                settings: dict[str, Any] = merge(*args, **kwargs)
                settings["verify"] = ca
                return settings

            session.merge_environment_settings = pinned  # type: ignore[method-assign]
        return session
