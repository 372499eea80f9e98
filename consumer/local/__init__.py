"""The real components run on this machine for the demo and the tests: Apache Kafka from the
Maven Central jars, a schema registry, a kube-apiserver, Prometheus, and their TLS material."""
