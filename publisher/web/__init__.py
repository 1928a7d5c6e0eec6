"""The web side of the platform: the staff REST API, public pages, the health probe.

The application is built by ``publisher.web.app.create_app``; it is not
imported here, so that a district node borrowing a helper of this package
does not load the center's whole application.
"""
