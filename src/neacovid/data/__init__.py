"""The survey data: reading files, the run configuration, the codebook,
harmonising waves to the common schema, deriving indicators, and the
synthetic NEA-like files that make every command runnable without microdata."""
