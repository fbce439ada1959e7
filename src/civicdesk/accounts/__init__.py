"""Users, staff roles and what each role may do."""
