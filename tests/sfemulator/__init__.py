"""A local Salesforce Bulk API 1.0 emulator for the connector tests (see server.py)."""
