//! Druid segment format v9: one module per on-disk structure (each with its writer, reader and a
//! drawing of its bytes), the streaming [`writer`], the mmap [`reader`], the k-way rollup
//! [`merge`], deep-storage [`package`]-ing and [`dump`]s.
//!
//! Byte order conventions, GenericIndexed, compression and every column layout follow
//! `reference/druid-realtime.md` §4 and were checked against real Druid segments
//! (`tests/segment_golden.rs`).

pub mod batch;
mod batch_writer;
pub mod bitmap;
mod bitmap_builder;
pub mod block_column;
pub mod block_writer;
mod built_bitmaps;
pub mod checksum;
mod chunked_bitmaps;
pub mod column_descriptor;
pub mod column_writers;
pub mod complex_column;
pub mod compression;
pub mod descriptor;
pub mod direct_io;
pub mod double_column;
pub mod dump;
pub mod error;
pub mod float_column;
pub mod format;
pub mod generic_indexed;
pub mod index_drd;
pub mod long_column;
pub mod long_writer;
pub mod merge;
pub mod merge_input;
pub mod merge_order;
mod merge_run;
pub mod metadata_drd;
pub mod package;
pub mod plain_ints;
pub mod prefetch;
pub mod reader;
mod roaring_encode;
pub mod schema;
pub mod smoosh;
pub mod spill;
pub mod string_column;
pub mod string_writer;
pub mod sync_behind;
pub mod vsize_ints;
pub mod vsize_longs;
pub mod writer;
mod zip_output;
pub mod zip_writer;

pub use batch::{DimValues, MetricValues, RowBatch};
pub use error::SegmentError;
pub use metadata_drd::Metadata;
pub use reader::{Column, Segment};
pub use writer::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    RowRef, SegmentOutput, SegmentSchema, SegmentWriter, WriteOptions, WrittenData, WrittenSegment,
};
