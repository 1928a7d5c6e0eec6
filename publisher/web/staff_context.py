"""What every staff page knows of its request: who is signed in, in which language, over what.

The session cookie is HttpOnly and SameSite=Strict, and Secure when the
request came over TLS or the feed's public URL (where people reach the web
app) is https.
"""

from __future__ import annotations

from aiohttp import web

from publisher.services.languages import LANGUAGES
from publisher.services.staff_sessions import ABSOLUTE_LIFETIME, SignedIn
from publisher.web.auth import CSRF_HEADER, SESSION_COOKIE
from publisher.web.context import SETTINGS
from publisher.web.public_query import page_language

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LANGUAGE_COOKIE",
    "LANGUAGE_PATH",
    "LOGIN_PATH",
    "OPEN_PATHS",
    "SESSION_COOKIE",
    "STAFF",
    "STAFF_PAGES_PREFIX",
    "STATIC_PREFIX",
    "login_redirect",
    "set_staff_cookie",
    "staff_language",
]

STAFF_PAGES_PREFIX = "/staff/"
STATIC_PREFIX = "/staff/static/"
LOGIN_PATH = "/staff/login"
LANGUAGE_PATH = "/staff/language"
# Reached without a session: logging in, and choosing the language to log in in.
OPEN_PATHS = frozenset({LOGIN_PATH, LANGUAGE_PATH})
LANGUAGE_COOKIE = "staff_lang"
CSRF_FIELD = "csrf_token"
STAFF = web.RequestKey("staff", SignedIn)
_LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def _served_over_tls(request: web.Request) -> bool:
    if request.secure:
        return True
    feed = request.app[SETTINGS].channel_options.get("feed", {})
    return str(feed.get("public_url", "")).startswith("https://")


def set_staff_cookie(request: web.Request, response: web.StreamResponse, name: str,
                     value: str, *, persistent: bool = False) -> None:
    seconds = _LANGUAGE_COOKIE_SECONDS if persistent else int(ABSOLUTE_LIFETIME.total_seconds())
    response.set_cookie(name, value, max_age=seconds, path="/", httponly=True,
                        samesite="Strict", secure=_served_over_tls(request))


def staff_language(request: web.Request) -> str:
    """``?lang=``, else the language chosen before (its cookie), else Accept-Language."""
    if "lang" not in request.query and request.cookies.get(LANGUAGE_COOKIE) in LANGUAGES:
        return request.cookies[LANGUAGE_COOKIE]
    return page_language(request)


def login_redirect(request: web.Request, *, expired: bool = False) -> web.HTTPSeeOther:
    query = {"next": request.path_qs if request.method == "GET" else request.path}
    if expired:
        query["expired"] = "1"
    location = request.app.router["staff_login"].url_for().with_query(query)
    redirect = web.HTTPSeeOther(location)
    if expired:
        redirect.del_cookie(SESSION_COOKIE, path="/")
    return redirect
