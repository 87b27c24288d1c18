"""driftline: a self-hosted product-analytics data platform."""

__version__ = "0.1.0"
