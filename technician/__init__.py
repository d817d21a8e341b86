"""Technician tools: build the firmware, provision, check and replace boxes with mpremote."""
