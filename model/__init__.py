"""The canonical model every layer shares: the schema of each table (`schema`), the tables
bundle (`tables`), the one `Calendar` and periods (`calendar`), the scoring parameters
(`params`) and the errors every layer raises (`errors`). Imports nothing of ours."""
