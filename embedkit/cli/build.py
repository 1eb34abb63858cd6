"""``embedkit build``: preference datasets built from data embedkit ships or the user has.

The commands (persona, synthetic, annotators, pick-a-filter) are generated from the data set registry
(``embedkit.datasets.registry``, by ``embedkit.cli.datasets``)."""

from __future__ import annotations

import click

from embedkit.cli.datasets import DatasetGroup


@click.group("build", cls=DatasetGroup, command="build")
def build_group():
    """Build preference datasets."""
