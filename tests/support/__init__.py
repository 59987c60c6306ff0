"""Helpers the tests share: datasets, stub services, a live server, the browser, waits."""
