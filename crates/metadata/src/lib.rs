//! Readers for package-manager metadata (pure parsers over bytes).
