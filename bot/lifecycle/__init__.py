"""Ticket lifecycle: working calendar, deadlines (more to come: state machine, follow-ups)."""
