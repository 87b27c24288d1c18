"""Ingestion: Mixpanel-shaped events from files and HTTP into validated Arrow batches."""
