"""Layer 3: what is drawn from the scorecard, without Streamlit. The chart builders and
metric adapters the pages and the pre-read share (`pipeline_charts`, `funnel_charts`,
`colors`, `metrics`), a snapshot read back as a seeded tables bundle (`snapshot_tables`), and
the executive pre-read (PDF / HTML): `build` is its I/O edge (store, settings), `render`
draws its pages; the content itself is assembled by the pure `scoring.preread`."""
