"""Ingestion: backfill, live streams and scheduled polls, as Ray actors on the head node."""
