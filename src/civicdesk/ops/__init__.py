"""Operations: the job worker and its periodic runner, the demo city and synthetic seeding,
bulk loading, and command-line glue."""
