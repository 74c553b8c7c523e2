//! [`Query`]: a parsed native query — the common fields plus the spec of its type.

use serde_json::Value;

use super::common::{DataSource, QueryContext, SegmentSpec, parse_granularity};
use super::json::obj;
use super::virtual_column::VirtualColumn;
use crate::index::granularity::Granularity;
use crate::query::engine::{
    groupby::GroupBySpec, metadata::SegmentMetadataSpec, scan::ScanSpec, search::SearchQuerySpec,
    select::SelectSpec, time_boundary::TimeBoundarySpec, timeseries::TimeseriesSpec,
    topn::TopNSpec,
};
use crate::query::error::{QueryError, QueryResult};
use crate::query::filter::Filter;

/// The type-specific part of a query.
#[derive(Debug, Clone)]
pub enum QueryKind {
    /// `timeseries`.
    Timeseries(TimeseriesSpec),
    /// `topN`.
    TopN(TopNSpec),
    /// `groupBy`.
    GroupBy(GroupBySpec),
    /// `scan`.
    Scan(ScanSpec),
    /// `select`.
    Select(SelectSpec),
    /// `timeBoundary`.
    TimeBoundary(TimeBoundarySpec),
    /// `segmentMetadata`.
    SegmentMetadata(SegmentMetadataSpec),
    /// `search`.
    Search(SearchQuerySpec),
    /// `dataSourceMetadata`.
    DataSourceMetadata,
}

/// A parsed native query.
#[derive(Debug, Clone)]
pub struct Query {
    /// `queryType` as sent.
    pub query_type: String,
    /// Where it reads.
    pub data_source: DataSource,
    /// Which data it reads.
    pub spec: SegmentSpec,
    /// Row filter.
    pub filter: Option<Filter>,
    /// Result bucketing.
    pub granularity: Granularity,
    /// Newest results first.
    pub descending: bool,
    /// The context.
    pub context: QueryContext,
    /// `expression` virtual columns.
    pub virtual_columns: Vec<VirtualColumn>,
    /// The type-specific part.
    pub kind: QueryKind,
}

impl Query {
    /// Parses a query from its JSON.
    pub fn parse(value: &Value) -> QueryResult<Query> {
        let value = super::virtual_column::lift_aggregator_expressions(value);
        let o = obj(&value, "query")?;
        let query_type = o.str("queryType")?.to_string();
        let data_source =
            DataSource::parse(o.get("dataSource").ok_or_else(|| o.missing("dataSource"))?)?;
        let kind = match query_type.as_str() {
            "timeseries" => QueryKind::Timeseries(TimeseriesSpec::parse(&o)?),
            "topN" => QueryKind::TopN(TopNSpec::parse(&o)?),
            "groupBy" => QueryKind::GroupBy(GroupBySpec::parse(&o)?),
            "scan" => QueryKind::Scan(ScanSpec::parse(&o)?),
            "select" => QueryKind::Select(SelectSpec::parse(&o)?),
            "timeBoundary" => QueryKind::TimeBoundary(TimeBoundarySpec::parse(&o)?),
            "segmentMetadata" => QueryKind::SegmentMetadata(SegmentMetadataSpec::parse(&o)?),
            "search" => QueryKind::Search(SearchQuerySpec::parse(&o)?),
            "dataSourceMetadata" => QueryKind::DataSourceMetadata,
            other => {
                return Err(QueryError::unsupported(format!(
                    "unknown or unsupported queryType `{other}` (supported: timeseries, topN, \
                     groupBy, scan, select, timeBoundary, segmentMetadata, search, \
                     dataSourceMetadata)"
                )));
            }
        };
        Ok(Query {
            query_type,
            data_source,
            spec: SegmentSpec::parse(o.get("intervals"))?,
            filter: Filter::parse_opt(o.get("filter"))?,
            granularity: parse_granularity(&o)?,
            descending: o.opt_bool("descending")?.unwrap_or(false),
            context: QueryContext::parse(o.get("context"))?,
            virtual_columns: VirtualColumn::parse_list(o.get("virtualColumns"))?,
            kind,
        })
    }

    /// Returns the intervals read.
    pub fn intervals(&self) -> Vec<crate::time::Interval> {
        self.spec.intervals()
    }
}
