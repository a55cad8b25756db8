"""Adaptive kinetic Monte Carlo: a second exploration driver, interchangeable with MD."""
