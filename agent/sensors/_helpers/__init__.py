"""What the sensors share or keep per OS; nothing here is a sensor.

OS sources (``procfs``, ``proc_connector``, ``x11``, ``idle_*``, ``net_*``,
``http_timing``), pure parsers of OS formats (``parse_*``, ``signals``) and
trackers that turn samples into events (``intervals``, ``hang_tracker``).
"""
