"""Podium's world: settings, storage, web, jobs and the command line."""
