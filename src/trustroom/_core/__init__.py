"""Pieces every layer of trustroom shares: errors, time handling, encodings, SQL.

Imports nothing else of trustroom.
"""
