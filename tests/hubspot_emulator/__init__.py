"""A local HubSpot API emulator for the HubSpot connector tests (see server.py)."""
