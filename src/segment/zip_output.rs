//! [`SegmentOutput::Zip`](super::schema::SegmentOutput::Zip): the segment's files written
//! once, as the entries of `index.zip`, instead of into a directory that is zipped afterwards
//! (the merged segment of a handoff exists only to be pushed).
//!
//! The entries and their bytes are those [`super::package`] makes of a directory the same
//! writer finishes: `00000.smoosh`, `factory.json`, `meta.smoosh`, `rtnode.crc32`,
//! `version.bin`, in that (name) order; the side file's CRC of `00000.smoosh` is the zip
//! entry's own. The zip is written under a temporary name, fsynced, renamed into place and its
//! directory fsynced, so a crash never leaves a half-written `index.zip`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::checksum::{self, FileChecksum};
use super::error::SegmentError;
use super::schema::{WrittenData, WrittenSegment};
use super::smoosh;
use super::writer::{SegmentWriter, publish_file};
use super::zip_writer::ZipWriter;

impl SegmentWriter {
    /// Writes the segment into `zip_path`; the spills in `scratch` are removed.
    pub(super) fn finish_zip(
        &mut self,
        zip_path: &Path,
        scratch: &Path,
    ) -> Result<WrittenSegment, SegmentError> {
        let mut name = zip_path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tmp-{}", std::process::id()));
        let tmp_zip = zip_path.with_file_name(name);
        let (total_bytes, dims) = self.write_zip_entries(&tmp_zip).map_err(|e| {
            let _ = fs::remove_file(&tmp_zip);
            SegmentError::io(&tmp_zip, e)
        })?;
        publish_file(&tmp_zip, zip_path)?;
        match fs::remove_dir_all(scratch) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(SegmentError::io(scratch, e));
            }
            _ => {}
        }
        let data = WrittenData::Zip(zip_path.to_path_buf());
        Ok(self.written(data, total_bytes, dims))
    }

    /// Writes every entry and the directory; returns the uncompressed total and the
    /// dimensions written.
    fn write_zip_entries(&mut self, tmp_zip: &Path) -> io::Result<(u64, Vec<String>)> {
        let mut zip = ZipWriter::create(tmp_zip)?;
        let chunk_name = smoosh::chunk_file_name(0);
        zip.start_entry(&chunk_name)?;
        let (_, meta, dims) = self.write_smoosh(&mut zip)?;
        let (chunk_bytes, chunk_crc) = zip.finish_entry()?;
        let small_files = [
            ("version.bin", smoosh::VERSION_BIN.to_vec()),
            ("meta.smoosh", meta.to_text().into_bytes()),
            ("factory.json", smoosh::FACTORY_JSON.as_bytes().to_vec()),
        ];
        // The side file lists the chunk, then the small files, as a directory's does.
        let mut sums = vec![FileChecksum {
            name: chunk_name,
            size_bytes: chunk_bytes,
            crc32: chunk_crc,
        }];
        sums.extend(small_files.iter().map(|(n, c)| FileChecksum::of(n, c)));
        let side_file = checksum::render(&sums).into_bytes();
        let mut entries: Vec<(&str, &[u8])> = small_files
            .iter()
            .map(|(n, c)| (*n, c.as_slice()))
            .chain([(checksum::CHECKSUM_FILE, side_file.as_slice())])
            .collect();
        entries.sort();
        for (name, content) in entries {
            zip.start_entry(name)?;
            zip.write_all(content)?;
            zip.finish_entry()?;
        }
        Ok((zip.finish()?, dims))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::package;
    use super::super::schema::*;
    use super::super::writer::SegmentWriter;
    use crate::segment::SegmentError;
    use crate::segment::descriptor::{DataSegment, ShardSpec};
    use crate::time::Interval;

    fn write(output: SegmentOutput) -> WrittenSegment {
        let schema = SegmentSchema {
            interval: Interval::new(0, 86_400_000),
            dimensions: vec![DimensionSchema {
                name: "page".into(),
                kind: DimensionKind::String,
                has_multiple_values: false,
                bitmap_index: true,
            }],
            metrics: vec![MetricSchema {
                name: "count".into(),
                kind: MetricKind::Long,
            }],
            metadata: None,
        };
        let dictionary = Dictionary(vec![Some("a".into()), Some("b".into())]);
        let mut writer = SegmentWriter::new(
            schema,
            vec![Some(dictionary)],
            output,
            WriteOptions::DRUID_DEFAULT,
        )
        .unwrap();
        for i in 0..50_000u32 {
            let ids = [i % 2];
            writer
                .add_row(RowRef {
                    time_ms: i64::from(i),
                    dims: &[DimCell::Ids(&ids)],
                    metrics: &[MetricCell::Long(i64::from(i % 7))],
                })
                .unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn the_zip_equals_a_packaged_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("segment");
        write(SegmentOutput::Directory(dir.clone()));
        let template =
            DataSegment::unpushed("wiki", Interval::new(0, 86_400_000), "v1", ShardSpec::None);
        let packaged = package::package(&dir, &tmp.path().join("pushed"), &template).unwrap();
        let zip_path = tmp.path().join("direct").join("index.zip");
        std::fs::create_dir_all(zip_path.parent().unwrap()).unwrap();
        let scratch: PathBuf = tmp.path().join("scratch");
        let written = write(SegmentOutput::Zip {
            zip_path: zip_path.clone(),
            scratch_dir: scratch.clone(),
        });
        assert_eq!(written.data, WrittenData::Zip(zip_path.clone()));
        assert_eq!(written.size_bytes, packaged.descriptor.size_bytes);
        assert_eq!(
            std::fs::read(&zip_path).unwrap(),
            std::fs::read(&packaged.zip_path).unwrap()
        );
        assert!(!scratch.exists(), "the spills are removed");
        let segment = crate::segment::Segment::from_written(written).unwrap();
        assert_eq!(segment.num_rows(), 50_000);
    }

    #[test]
    fn a_file_changed_since_it_was_written_is_not_packaged() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("segment");
        write(SegmentOutput::Directory(dir.clone()));
        let chunk = dir.join("00000.smoosh");
        let mut bytes = std::fs::read(&chunk).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&chunk, &bytes).unwrap();
        let template =
            DataSegment::unpushed("wiki", Interval::new(0, 86_400_000), "v1", ShardSpec::None);
        let out = tmp.path().join("pushed");
        let err = package::package(&dir, &out, &template).unwrap_err();
        assert!(
            matches!(&err, SegmentError::ChecksumMismatch { file, .. } if file == "00000.smoosh"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert!(left.is_empty(), "nothing is left to push: {left:?}");
    }
}
