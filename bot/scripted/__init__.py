"""Scripted conversation tests: YAML scripts users write, a runner and a pytest plugin."""
