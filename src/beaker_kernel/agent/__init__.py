"""The LLM agent of a context. Importing this package does not import archytas."""
