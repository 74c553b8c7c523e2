//! The query model: Druid native query JSON parsed into typed specs.

pub mod common;
pub mod dimension;
pub mod extraction;
pub mod json;
pub mod query;
pub mod search_spec;
pub mod virtual_column;

pub use common::{DataSource, QueryContext, SegmentDescriptor, SegmentSpec};
pub use dimension::DimensionSpec;
pub use extraction::ExtractionFn;
pub use query::{Query, QueryKind};
pub use search_spec::SearchSpec;
