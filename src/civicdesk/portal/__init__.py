"""The resident portal: find a service, report a problem, track and follow a request, see
recent requests. No account needed."""
