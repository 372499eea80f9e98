"""The service (`run`): the Kafka loop and its commit strategies, the batch processor, dead
letters, the claim history's changelog, metrics, health endpoints and start-up checks."""
