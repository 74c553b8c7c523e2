//! The data types of the segment writer's contract: schema, dictionaries, borrowed rows, output
//! choice, options and the finished segment. Re-exported by `writer`.

use std::path::PathBuf;

use bytes::Bytes;

use super::compression::Compression;
use super::error::SegmentError;
pub use super::long_writer::LongEncoding;
use super::metadata_drd::Metadata;
use super::string_column::java_str_cmp;
use crate::time::Interval;

/// What the segment holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSchema {
    /// The data interval written to `index.drd`.
    pub interval: Interval,
    /// Dimensions in segment order.
    pub dimensions: Vec<DimensionSchema>,
    /// Metrics (any order; written sorted by name).
    pub metrics: Vec<MetricSchema>,
    /// Content of `metadata.drd`, if any.
    pub metadata: Option<Metadata>,
}

/// One dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionSchema {
    /// Column name.
    pub name: String,
    /// Value kind.
    pub kind: DimensionKind,
    /// True when rows may hold several values (string dimensions only).
    pub has_multiple_values: bool,
    /// False leaves a string column's bitmap indexes out even when the [`WriteOptions`] make
    /// them (Druid's `createBitmapIndex`); ignored for numeric dimensions.
    pub bitmap_index: bool,
}

/// The kind of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DimensionKind {
    /// Dictionary-encoded strings.
    String,
    /// Longs.
    Long,
    /// Floats.
    Float,
    /// Doubles.
    Double,
}

/// One metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSchema {
    /// Column name.
    pub name: String,
    /// Value kind.
    pub kind: MetricKind,
}

/// The kind of a metric column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricKind {
    /// Longs.
    Long,
    /// Floats.
    Float,
    /// Doubles.
    Double,
    /// Serialized objects of a complex type (`hyperUnique`, …).
    Complex {
        /// The complex type name.
        type_name: String,
    },
}

/// A sorted dictionary for one string dimension: entries strictly ascending in Java `String`
/// order ([`java_str_cmp`]); `None` (null) is allowed only as entry 0. `Some("")` is read as null
/// (Druid stores both as a zero-length entry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dictionary(pub Vec<Option<String>>);

impl Dictionary {
    /// Normalizes `""` to null and checks the order rules.
    pub fn validate(mut self, dimension: &str) -> Result<Dictionary, SegmentError> {
        for entry in &mut self.0 {
            if entry.as_deref() == Some("") {
                *entry = None;
            }
        }
        if self.0.iter().skip(1).any(Option::is_none) {
            return Err(SegmentError::InvalidInput(format!(
                "dictionary of `{dimension}` has null beyond entry 0"
            )));
        }
        let sorted = self.0.windows(2).all(|w| match (&w[0], &w[1]) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => java_str_cmp(a, b).is_lt(),
            _ => false,
        });
        if !sorted {
            return Err(SegmentError::InvalidInput(format!(
                "dictionary of `{dimension}` is not strictly ascending"
            )));
        }
        Ok(self)
    }

    /// True when the dictionary holds nothing but null (the dimension is omitted).
    pub fn is_all_null(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// One dimension value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DimCell<'a> {
    /// String dictionary ids: exactly one for single-value dimensions, any number for
    /// multi-value ones.
    Ids(&'a [u32]),
    /// A long dimension value.
    Long(i64),
    /// A float dimension value.
    Float(f32),
    /// A double dimension value.
    Double(f64),
}

/// One metric value of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricCell<'a> {
    /// A long.
    Long(i64),
    /// A float.
    Float(f32),
    /// A double.
    Double(f64),
    /// Complex bytes (empty = null).
    Complex(&'a [u8]),
}

/// One row, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    /// Row timestamp (already truncated to the query granularity).
    pub time_ms: i64,
    /// One cell per schema dimension.
    pub dims: &'a [DimCell<'a>],
    /// One cell per schema metric, in schema order.
    pub metrics: &'a [MetricCell<'a>],
}

/// An empty vector with the allocation of `v`, so that a row's cell vectors can be handed from
/// row to row although each row's cells borrow different buffers: collecting an emptied
/// vector's iterator into a vector of a type with the same size and alignment reuses its
/// allocation (here only the lifetime of the borrowed cells differs).
pub fn recycle<'a, 'b, T: 'a, U: 'b>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().map(|_| unreachable!("cleared")).collect()
}

/// Where the segment goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentOutput {
    /// A new directory at this path (must not exist).
    Directory(PathBuf),
    /// Bytes in memory.
    Memory,
    /// Straight into an `index.zip` (replaced if present): the segment's files are written
    /// once, as the zip's entries, with the same bytes as a directory packaged afterwards.
    /// Column spills go to `scratch_dir` (created, and removed when done).
    Zip {
        /// The zip to write.
        zip_path: PathBuf,
        /// Where the column spills go meanwhile.
        scratch_dir: PathBuf,
    },
}

/// Writer options: the column formats of Druid's `indexSpec` (bitmaps are always roaring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Dictionary ids of string dimensions and values of numeric dimensions: `Lz4`, or
    /// `Uncompressed` (Druid's plain vsize forms for string ids). Druid refuses `None` here.
    pub dimension_compression: Compression,
    /// `__time` and numeric metrics: `Lz4`, `Uncompressed` (blocks stored as they are) or `None`
    /// (the entire layout, no blocks).
    pub metric_compression: Compression,
    /// `longs` or `auto` (table / delta bit-packing) for long columns.
    pub long_encoding: LongEncoding,
    /// Whether string columns get their bitmap indexes. Without, the part carries Druid's
    /// `NO_BITMAP_INDEX` flag and readers build the bitmaps on first use
    /// (`string_column::StringColumn::bitmap`).
    pub bitmap_index: bool,
}

impl WriteOptions {
    /// Druid's default `indexSpec`: LZ4 everywhere, 8-byte longs.
    pub const DRUID_DEFAULT: WriteOptions = WriteOptions {
        dimension_compression: Compression::Lz4,
        metric_compression: Compression::Lz4,
        long_encoding: LongEncoding::Longs,
        bitmap_index: true,
    };

    /// rtnode's hydrants (intermediate persists) unless the spec says otherwise: uncompressed
    /// dimension ids, no metric blocks, 8-byte longs — read in place by queries and merges, and
    /// written and read back without an encoding pass (README, "Column formats"). No bitmap
    /// indexes: the merge never reads them, and a filtered query builds a hydrant column's
    /// bitmaps the first time it needs them.
    pub const HYDRANT_DEFAULT: WriteOptions = WriteOptions {
        dimension_compression: Compression::Uncompressed,
        metric_compression: Compression::None,
        long_encoding: LongEncoding::Longs,
        bitmap_index: false,
    };

    /// The in-memory query snapshot of a sink's current index: nothing compressed, everything
    /// readable in place, nothing that needs a second pass.
    pub const SNAPSHOT: WriteOptions = WriteOptions {
        dimension_compression: Compression::Uncompressed,
        metric_compression: Compression::None,
        long_encoding: LongEncoding::Longs,
        bitmap_index: true,
    };

    /// Fails when a choice cannot be written (LZF anywhere, `none` for dimensions).
    pub fn check(&self) -> Result<(), SegmentError> {
        let bad = match (self.dimension_compression, self.metric_compression) {
            (Compression::Lzf, _) | (_, Compression::Lzf) => Some("LZF compression is not written"),
            (Compression::None, _) => Some("dimension compression `none` does not exist in Druid"),
            _ => None,
        };
        match bad {
            Some(reason) => Err(SegmentError::InvalidInput(reason.into())),
            None => Ok(()),
        }
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions::DRUID_DEFAULT
    }
}

/// The files of an in-memory segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySegment {
    /// `(file name, content)` for `version.bin`, `meta.smoosh`, `00000.smoosh`, `factory.json`.
    pub files: Vec<(String, Bytes)>,
}

/// Where a finished segment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrittenData {
    /// The segment directory.
    Directory(PathBuf),
    /// The segment files in memory.
    Memory(MemorySegment),
    /// An `index.zip` holding the segment files.
    Zip(PathBuf),
}

/// A finished segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSegment {
    /// The segment's location.
    pub data: WrittenData,
    /// Number of rows.
    pub num_rows: u32,
    /// Sum of the sizes of the segment files in bytes (`DataSegment.size`).
    pub size_bytes: u64,
    /// The data interval.
    pub interval: Interval,
    /// Dimensions actually written (all-null ones are omitted), in segment order.
    pub dimensions: Vec<String>,
    /// Metric names in schema order.
    pub metrics: Vec<String>,
}
