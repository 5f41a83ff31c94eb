"""Common building blocks of the six projects: settings, errors, web plumbing, database, cache."""
