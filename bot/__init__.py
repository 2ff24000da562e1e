"""The Discord front end and the `promptbot` command line."""
