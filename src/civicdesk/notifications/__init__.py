"""Telling residents and staff what happened: email and SMS adapters, message templates per
language, and the delivery log (which is also the outbox: no message is lost with a worker)."""
