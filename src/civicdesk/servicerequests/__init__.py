"""Service requests: intake, statuses and transitions, the timeline, assignment, duplicates
and merge, followers and media."""
