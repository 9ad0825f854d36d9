"""Service-desk contacts: tickets pulled from an ITSM, imported from a file or pushed by a webhook (docs/support.md).

- :mod:`.tickets`: the one normalized :class:`~.tickets.Ticket` every path produces, with its bounds;
- :mod:`.store`: stores tickets idempotently by (source, ticket id) and joins them to devices by identity key;
- :mod:`.sources`: one connector per ITSM behind one small interface, registered in one place;
- :mod:`.config`: the ``[support]`` table of the collector config;
- :mod:`.polling`: builds the configured connectors and polls them in the background;
- :mod:`.generic`: the generic column set that ``hinder support import`` and the webhook
  (``collector.api.support``) read;
- :mod:`.cli`: ``hinder support import``, ``poll`` and ``sources``.
"""
