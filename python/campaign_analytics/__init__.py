"""campaign-analytics: a batch build of campaign rollups and a read-only API over them."""

__version__ = "0.1.0"
