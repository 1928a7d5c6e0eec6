"""The district sub-center service (``publisher district-node``).

A district node relays city alerts to its local boards, speakers and SMS
group, verifies every signature before it relays anything, catches up after
a gap, and lets district operators (its API and its pages under ``/ui/``)
publish, update and cancel district alerts, which it reports up to the city.
"""
