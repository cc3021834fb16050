"""The version of webbcal (one place; the package and the products read it here)."""
__version__ = "0.1.0"
