"""One module per group of ``plat`` subcommands; each has ``register(sub, common)``."""
