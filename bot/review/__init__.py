"""Pull-request review: OWNERS files and the review state, pure (the handler is handlers/review.py)."""
