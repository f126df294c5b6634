"""Operations: configuration (`config`), the refresh and the one way it runs (`refresh`,
`jobs`, `lock`, `background`), the run log (`runlog`, `sqlite_log`), the schedule and
delivery of the pre-read (`schedule`, `deliver`), the sign-in audit (`audit`), the sources
registry (`sources`) and the one CLI (`python -m ops`, `cli`)."""
