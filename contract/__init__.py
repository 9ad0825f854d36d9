"""The contract between hinder's agent and collector, and the vocabulary every part of hinder speaks.

Standard library only, and it imports neither :mod:`agent` nor :mod:`collector`:
both import it, never each other, so the agent stays light and the two sides
cannot drift apart.

- :mod:`contract.events`: the one table of event types (what each means, how
  the impact model costs it, its overlap priority, whether it concerns an
  application and a version, its name in reports), and the detail keys the
  collector reads.
- :mod:`contract.records`: the wire records (events, heartbeats, batches),
  each field declared once with its bound, and the limits of a batch.
- :mod:`contract.check`: the full check of a batch against those declarations,
  naming every problem it finds.
- :mod:`contract.settings`: the strict TOML settings loader both configurations
  use, and the exit codes of the ``hinder`` commands.
"""

__version__ = "0.1.0"  # hinder's one version: the agent, the collector and the command line
# The smallest group of devices shown by site or department anywhere outside the collector, by default
# (the collector's [report] min_group_size; `hinder agent explain` tells the employee).
MIN_GROUP_SIZE = 5
