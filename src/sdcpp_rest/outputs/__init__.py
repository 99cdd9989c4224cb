"""Output files: folder layout, atomic writes, PNG metadata, thumbnails."""
