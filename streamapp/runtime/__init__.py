"""The worker runtime: Faust app and agents with a batch fast path, pipeline, shutdown."""
