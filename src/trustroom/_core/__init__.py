"""Pieces every layer of trustroom shares: errors and time handling.

Imports nothing else of trustroom.
"""
