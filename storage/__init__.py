"""Persistence: settings, SQLAlchemy models, engine/session setup and repositories.

This is the bottom layer (bot -> retraining -> retrieval -> storage); it is the only
package that writes SQL.
"""
