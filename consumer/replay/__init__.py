"""`replay`: bounded ranges of a topic decided again, the claim history rebuilt before them, and
`--diff` between two rule sets."""
