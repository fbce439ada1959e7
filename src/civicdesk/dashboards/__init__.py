"""The performance dashboards as web pages: the one filter form, presenter and CSV writer
shared by the public performance page (portal) and the staff dashboard (console).

An adapter like the portal and the console, over the ``performance`` selectors; it holds no
definition of a measure (those are in ``performance.measures``), only how figures are shown.
"""
