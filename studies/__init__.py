"""One-off studies behind the docs pages, each run by one command its page names."""
