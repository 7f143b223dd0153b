"""End-to-end tests: a real browser (Debian's chromium through Playwright) against a live server."""
