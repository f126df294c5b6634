"""Documents built from the scorecard for people who do not open the app: the executive
pre-read (PDF / HTML). `build` is the I/O edge (store, settings, the pages' chart builders);
`render` draws the pages; the content itself is assembled by the pure `scoring.preread`."""
