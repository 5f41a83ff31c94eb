"""Project 04's retrieval evaluation: the labelled set, the metrics, the harness."""
