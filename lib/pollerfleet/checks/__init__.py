"""The plugins' Resources, Contexts and Summaries, one module per check, and their runtime."""
