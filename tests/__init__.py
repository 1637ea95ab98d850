"""The tests, run with pytest from the project root; a package so that they share `tests.support`."""
