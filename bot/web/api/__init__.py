"""The REST API under ``/api/v1``: tokens, tickets, conversations, customers and reports for the
company's other systems, on the console's access policy."""
