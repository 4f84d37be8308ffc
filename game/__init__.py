"""Podium's pure domain: scoring, tiers, periods, ledger rules, ranking.

Nothing in this package does I/O, reads the clock or imports the web or database layers;
time and data are passed in, decisions come back as values.
"""
