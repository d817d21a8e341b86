"""The wire contract: JSON Schemas and topic layout shared by the firmware and the collector."""
