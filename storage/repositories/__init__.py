"""Repositories: functions that take a Session and read or write one concern's tables."""
