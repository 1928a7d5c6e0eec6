"""The web side of the platform: the staff REST API, public pages, the health probe."""

from publisher.web.app import create_app

__all__ = ["create_app"]
