"""Checkpoints on disk: the store, the catalog, retrained references, lineage, downloads, roots."""
