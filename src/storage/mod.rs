//! Where finished segments go: deep storage, and the metadata store that publishes them.

pub mod deep;
pub mod metadata;
