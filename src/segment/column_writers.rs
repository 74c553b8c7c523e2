//! The per-column writers behind `SegmentWriter`: one variant per column kind, each writing its
//! descriptor followed by its part (layouts in the column modules).

use std::io::{self, Write};
use std::path::Path;

use super::block_column::ByteOrder;
use super::column_descriptor::{ColumnDescriptor, Part, ValueType};
use super::complex_column::ComplexColumnWriter;
use super::double_column::DoubleColumnWriter;
use super::error::SegmentError;
use super::float_column::FloatColumnWriter;
use super::format::put_string;
use super::long_column::LongColumnWriter;
use super::spill::Spill;
use super::string_writer::StringColumnWriter;
use super::writer::{
    Dictionary, DimCell, DimensionKind, DimensionSchema, MetricCell, MetricKind, MetricSchema,
    WriteOptions,
};

/// A column being written.
#[derive(Debug)]
pub enum ColumnWriter {
    /// Longs (time, long dimensions and metrics).
    Long(LongColumnWriter),
    /// Floats.
    Float(FloatColumnWriter),
    /// Doubles.
    Double(DoubleColumnWriter),
    /// Dictionary-encoded strings.
    String(Box<StringColumnWriter>),
    /// Complex values.
    Complex(ComplexColumnWriter, String),
    /// Already handed over for assembly.
    Finished,
}

impl ColumnWriter {
    /// The `__time` column writer: metric compression and long encoding, as Druid ≥ 0.13 writes
    /// it (0.9–0.12 always used LZ4; every layout is readable by all of them but `none`, 0.11+).
    pub fn time(dir_opt: Option<&Path>, options: WriteOptions) -> io::Result<ColumnWriter> {
        Ok(ColumnWriter::Long(LongColumnWriter::new(
            dir_opt,
            "time.spill",
            options.metric_compression,
            options.long_encoding,
        )?))
    }

    /// Appends a long (used for `__time`).
    #[inline]
    pub fn push_long(&mut self, value: i64) -> io::Result<()> {
        match self {
            ColumnWriter::Long(writer) => writer.push(value),
            _ => Err(io::Error::other("not a long column")),
        }
    }

    /// Checks that `cell` fits this dimension column.
    #[inline]
    pub fn check_dim(&self, cell: &DimCell<'_>) -> Result<(), String> {
        match (self, cell) {
            (ColumnWriter::String(writer), DimCell::Ids(ids)) => writer.check_row(ids),
            (ColumnWriter::Long(_), DimCell::Long(_))
            | (ColumnWriter::Float(_), DimCell::Float(_))
            | (ColumnWriter::Double(_), DimCell::Double(_)) => Ok(()),
            _ => Err(format!("cell {cell:?} does not match the column kind")),
        }
    }

    /// Appends a checked dimension cell.
    #[inline]
    pub fn push_dim(&mut self, cell: &DimCell<'_>) -> io::Result<()> {
        match (self, cell) {
            (ColumnWriter::String(writer), DimCell::Ids(ids)) => writer.push_row(ids),
            (ColumnWriter::Long(writer), DimCell::Long(v)) => writer.push(*v),
            (ColumnWriter::Float(writer), DimCell::Float(v)) => writer.push(*v),
            (ColumnWriter::Double(writer), DimCell::Double(v)) => writer.push(*v),
            _ => Err(io::Error::other("dimension cell does not match its column")),
        }
    }

    /// Checks that `cell` fits this metric column.
    #[inline]
    pub fn check_metric(&self, cell: &MetricCell<'_>) -> Result<(), String> {
        match (self, cell) {
            (ColumnWriter::Long(_), MetricCell::Long(_))
            | (ColumnWriter::Float(_), MetricCell::Float(_))
            | (ColumnWriter::Double(_), MetricCell::Double(_))
            | (ColumnWriter::Complex(..), MetricCell::Complex(_)) => Ok(()),
            _ => Err(format!("cell {cell:?} does not match the column kind")),
        }
    }

    /// Appends a checked metric cell.
    #[inline]
    pub fn push_metric(&mut self, cell: &MetricCell<'_>) -> io::Result<()> {
        match (self, cell) {
            (ColumnWriter::Long(writer), MetricCell::Long(v)) => writer.push(*v),
            (ColumnWriter::Float(writer), MetricCell::Float(v)) => writer.push(*v),
            (ColumnWriter::Double(writer), MetricCell::Double(v)) => writer.push(*v),
            (ColumnWriter::Complex(writer, _), MetricCell::Complex(bytes)) => writer.push(bytes),
            _ => Err(io::Error::other("metric cell does not match its column")),
        }
    }

    fn descriptor(&self) -> ColumnDescriptor {
        let order = ByteOrder::Little;
        match self {
            ColumnWriter::Long(_) => {
                ColumnDescriptor::single(ValueType::Long, false, Part::Long(order))
            }
            ColumnWriter::Float(_) => {
                ColumnDescriptor::single(ValueType::Float, false, Part::Float(order))
            }
            ColumnWriter::Double(_) => {
                ColumnDescriptor::single(ValueType::Double, false, Part::Double(order))
            }
            ColumnWriter::String(writer) => writer.descriptor(),
            ColumnWriter::Complex(_, type_name) => ColumnDescriptor::single(
                ValueType::Complex,
                false,
                Part::Complex {
                    type_name: type_name.clone(),
                },
            ),
            ColumnWriter::Finished => unreachable!("finished writers are never described"),
        }
    }

    /// Writes the column file: serialized descriptor JSON, then the part.
    pub fn write_column(self, out: &mut dyn Write) -> io::Result<()> {
        let mut header = Vec::new();
        put_string(&mut header, &self.descriptor().to_json_string());
        out.write_all(&header)?;
        match self {
            ColumnWriter::Long(writer) => writer.write_to(out),
            ColumnWriter::Float(writer) => writer.write_to(out),
            ColumnWriter::Double(writer) => writer.write_to(out),
            ColumnWriter::String(writer) => writer.write_to(out),
            ColumnWriter::Complex(writer, _) => writer.write_to(out),
            ColumnWriter::Finished => Ok(()),
        }
    }
}

/// Opens the writer of dimension `index`, or `None` when the dimension is omitted (all null).
pub fn column_writer_for_dim(
    dim: &DimensionSchema,
    dictionary_opt: Option<Dictionary>,
    dir_opt: Option<&Path>,
    index: usize,
    options: WriteOptions,
) -> Result<Option<ColumnWriter>, SegmentError> {
    let io_err = |e| {
        SegmentError::io(
            dir_opt
                .map(Path::to_path_buf)
                .unwrap_or_else(|| "<memory>".into()),
            e,
        )
    };
    let spill =
        |suffix: &str| Spill::new_in(dir_opt, &format!("d{index}.{suffix}")).map_err(io_err);
    let compression = options.dimension_compression;
    let writer = match (dim.kind, dictionary_opt) {
        (DimensionKind::String, Some(dictionary)) => {
            if dictionary.is_all_null() {
                return Ok(None);
            }
            let prefix = format!("d{index}");
            let writer = StringColumnWriter::new(
                dictionary.0,
                dim.has_multiple_values,
                compression,
                options.bitmap_index && dim.bitmap_index,
                dir_opt,
                &prefix,
            );
            ColumnWriter::String(Box::new(writer.map_err(io_err)?))
        }
        (DimensionKind::Long, None) => ColumnWriter::Long(
            LongColumnWriter::new(
                dir_opt,
                &format!("d{index}.long"),
                compression,
                options.long_encoding,
            )
            .map_err(io_err)?,
        ),
        (DimensionKind::Float, None) => {
            ColumnWriter::Float(FloatColumnWriter::new(spill("float")?, compression))
        }
        (DimensionKind::Double, None) => {
            ColumnWriter::Double(DoubleColumnWriter::new(spill("double")?, compression))
        }
        (kind, _) => {
            return Err(SegmentError::InvalidInput(format!(
                "dimension `{}` of kind {kind:?} needs a dictionary exactly when it is a string",
                dim.name
            )));
        }
    };
    Ok(Some(writer))
}

/// Opens the writer of metric `index`.
pub fn column_writer_for_metric(
    metric: &MetricSchema,
    dir_opt: Option<&Path>,
    index: usize,
    options: WriteOptions,
) -> io::Result<ColumnWriter> {
    let name = format!("m{index}.spill");
    let compression = options.metric_compression;
    let encoding = options.long_encoding;
    let spill = || Spill::new_in(dir_opt, &name);
    Ok(match &metric.kind {
        MetricKind::Long => ColumnWriter::Long(LongColumnWriter::new(
            dir_opt,
            &name,
            compression,
            encoding,
        )?),
        MetricKind::Float => ColumnWriter::Float(FloatColumnWriter::new(spill()?, compression)),
        MetricKind::Double => ColumnWriter::Double(DoubleColumnWriter::new(spill()?, compression)),
        MetricKind::Complex { type_name } => {
            ColumnWriter::Complex(ComplexColumnWriter::new(spill()?), type_name.clone())
        }
    })
}
