"""Jupyter's login in place of API keys for the mounted REST handlers.

``jupyter_handler_class(cls)`` derives, from a ``mitraseti_server`` handler class, one whose
``authenticate()`` asks Jupyter's identity provider who is logged in (token or login cookie)
and maps that Jupyter user to a local MitraSETI user (created on first sight). Requests
authenticated by cookie must carry Jupyter's XSRF token on unsafe methods.

Jupyter Server's own identity providers are single-user: whoever holds the token or password is
the server's owner, and it invents a random user name per browser session. All those map to
one local user, ``jupyter-owner``. Other providers (JupyterHub's, custom ones) name real
users, and each gets its own local user ``jupyter-<name>``.
"""
from __future__ import annotations

import inspect

from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from mitraseti_server.errors import AuthError, StoreError
from mitraseti_server.storage.database import User

OWNER = "owner"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def local_user_for(store, username: str, tier: str) -> User:
    """The local user mapped to Jupyter user ``username`` (created on first request with
    ``tier``, the configuration's ``jupyter_tier``)."""
    external = f"jupyter|{username}"
    user = store.get_user_by_external(external)
    if user is not None:
        return user
    try:
        return store.create_user(f"jupyter-{username}", tier, external_sub=external)
    except StoreError:
        user = store.get_user_by_external(external)     # created concurrently
        if user is None:
            raise
        return user


class JupyterAuthMixin:
    """Put first in the bases: replaces ``BaseHandler.authenticate``."""

    def check_xsrf_cookie(self) -> None:
        """Tornado calls this before ``prepare``; we check in ``authenticate`` instead,
        once we know whether the request came with a token or a cookie."""

    async def authenticate(self) -> User:
        if not self.check_host():                    # Jupyter's DNS-rebinding protection
            raise AuthError("Host not allowed", host=self.request.host)
        provider = self.identity_provider
        user = provider.get_user(self)
        if inspect.isawaitable(user):
            user = await user
        if user is None:
            raise AuthError("Jupyter login required",
                            detail="send Jupyter's token (Authorization: token ...) or log in")
        self.current_user = self._jupyter_current_user = user
        if (self.request.method not in SAFE_METHODS
                and not getattr(self, "_token_authenticated", False)):
            try:
                web.RequestHandler.check_xsrf_cookie(self)   # cookie login: XSRF required
            except web.HTTPError as exc:
                raise AuthError("XSRF check failed", detail=exc.log_message) from None
        single_user = type(provider).__module__.startswith("jupyter_server.")
        return local_user_for(self.services.store, OWNER if single_user else user.username,
                              self.services.config.jupyter_tier)


def jupyter_handler_class(cls: type) -> type:
    """``cls`` with Jupyter authentication (same routes, same behaviour otherwise)."""
    return type(f"Jupyter{cls.__name__}", (JupyterAuthMixin, cls, JupyterHandler),
                {"__module__": __name__, "__doc__": cls.__doc__})
