"""The staff console: queues, request detail and actions, phone intake, knowledge base."""
