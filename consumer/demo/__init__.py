"""`demo` and its sample claims (a realistic, seedable mix across the lines of business), and the
dashboard drawn from a live Prometheus."""
