"""Sources only: the demo org, exported files and Salesforce, each mapped into the canonical
model (model/schema.py) and validated. A connector knows its source and the schema, nothing
about metrics, storage or orchestration (see connectors/base.py)."""
