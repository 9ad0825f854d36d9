"""hinder: measures how much work IT disruptions cost employees."""

__version__ = "0.1.0"
