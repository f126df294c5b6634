"""Snapshots: the store of validated canonical tables (Parquet + manifest), written atomically,
read back, and pruned by its retention policy. Imports only model/."""
