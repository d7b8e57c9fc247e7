"""Dead-letter topics: headers with full context, the producer side, and the error budget."""
