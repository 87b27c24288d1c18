"""Route modules; each exposes ``router``. Every module here is mounted by the app factory."""
