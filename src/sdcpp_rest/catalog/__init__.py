"""Model files on disk: where each type lives, listing, and resolving names from requests."""
