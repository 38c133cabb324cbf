"""Model providers: the Provider seam, one adapter per wire API, and the scripted model."""
