"""The district sub-center service (not built yet).

A district node relays city alerts to its local boards and speakers, verifies
every signature before it relays anything, and reports district alerts up to
the city. It will use ``publisher.cap`` and ``publisher.channels`` only.
"""
