//! Builds protocol cards from knowledge items.
