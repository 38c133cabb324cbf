"""Versions: wakeful's own, and the opencode API version it speaks."""

__version__ = "0.1.0"
# The reference version whose API wakeful speaks; reported where opencode reports its version.
OPENCODE_VERSION = "1.18.33"
