//! Which input field goes where: the timestamp, a dimension slot, a metric input slot.
//!
//! With an explicit dimension list the slots are fixed. Schemaless (an empty list) discovers
//! dimensions in the order keys first appear, minus the exclusions (Druid's rule), so slots only
//! grow; rows parsed earlier simply have fewer dimensions.

use std::collections::HashSet;

use hashbrown::HashMap;

use crate::config::{DimensionType, FireDepartment, MultiValueHandling};

/// A dimension of the parsed rows.
#[derive(Debug, Clone, PartialEq)]
pub struct DimensionDef {
    /// Dimension name.
    pub name: String,
    /// Value type (`Spatial` dimensions are strings built from `spatial_inputs`).
    pub kind: DimensionType,
    /// Spatial only: the field slots joined with `,`.
    pub spatial_inputs: Vec<usize>,
    /// How a multi-value row's values are kept (applied by the index).
    pub multi_value_handling: MultiValueHandling,
}

/// What a field name feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// Dimension slot, if the field is a dimension.
    pub dim: Option<u32>,
    /// Metric input slot, if an aggregator (or a spatial dimension) reads it.
    pub field: Option<u32>,
    /// The field is the timestamp column.
    pub timestamp: bool,
    /// Schemaless: a column routed as an input field (a filter's or an expression's) that is
    /// still to become a dimension when it first appears.
    pub discoverable: bool,
}

impl Target {
    /// A key that feeds nothing.
    pub(crate) const NONE: Target = Target {
        dim: None,
        field: None,
        timestamp: false,
        discoverable: false,
    };
}

/// The layout of parsed rows: dimension slots, metric input slots and the routing table.
#[derive(Debug, Clone)]
pub struct RowSchema {
    dimensions: Vec<DimensionDef>,
    fields: Vec<String>,
    timestamp_column: String,
    schemaless: bool,
    exclusions: HashSet<String>,
    targets: HashMap<String, Target>,
    /// Some dimension is spatial (kept, since every event asks).
    spatial: bool,
}

/// Upper bound on remembered unknown keys, so a stream of random keys cannot grow memory.
const MAX_REMEMBERED_KEYS: usize = 100_000;

impl RowSchema {
    /// Builds the layout of a validated fire department.
    pub fn new(department: &FireDepartment) -> RowSchema {
        let spec = department.parser().parse_spec();
        let mut schema = RowSchema {
            dimensions: Vec::new(),
            fields: Vec::new(),
            timestamp_column: spec.timestamp_spec.column.clone(),
            schemaless: spec.dimensions_spec.dimensions.is_empty(),
            exclusions: spec
                .dimensions_spec
                .dimension_exclusions
                .iter()
                .cloned()
                .collect(),
            targets: HashMap::new(),
            spatial: false,
        };
        // Filters (of `filtered` aggregators and of the transformSpec) and transforms read their
        // columns' raw values.
        let transform_spec = &department.data_schema.transform_spec;
        let mut filter_columns = super::transform::input_columns(transform_spec);
        for metric in &department.data_schema.metrics_spec {
            if let Some(field) = &metric.field_name {
                schema.field_slot_or_insert(field);
            }
            if let Some(filter) = &metric.filter {
                filter.filter.columns(&mut filter_columns);
            }
        }
        if let Some(filter) = &department.data_schema.transform_spec.filter {
            filter.filter.columns(&mut filter_columns);
        }
        for column in filter_columns.iter().filter(|c| *c != "__time") {
            let is_metric_input = schema.field_slot(column).is_some();
            schema.field_slot_or_insert(column);
            if schema.schemaless && !is_metric_input && !schema.exclusions.contains(column) {
                schema
                    .targets
                    .get_mut(column.as_str())
                    .expect("just routed")
                    .discoverable = true;
            }
        }
        for dim in &spec.dimensions_spec.dimensions {
            let spatial_inputs = dim
                .dims
                .iter()
                .map(|input| schema.field_slot_or_insert(input))
                .collect();
            schema.push_dimension(DimensionDef {
                name: dim.name.clone(),
                kind: dim.kind,
                spatial_inputs,
                multi_value_handling: dim.multi_value_handling,
            });
        }
        let ts = schema.timestamp_column.clone();
        schema.targets.entry(ts).or_insert(Target::NONE).timestamp = true;
        schema
    }

    fn field_slot_or_insert(&mut self, name: &str) -> usize {
        if let Some(slot) = self.fields.iter().position(|f| f == name) {
            return slot;
        }
        self.fields.push(name.to_string());
        let slot = self.fields.len() - 1;
        self.targets
            .entry(name.to_string())
            .or_insert(Target::NONE)
            .field = Some(slot as u32);
        slot
    }

    fn push_dimension(&mut self, def: DimensionDef) {
        let slot = self.dimensions.len() as u32;
        self.spatial |= def.kind == DimensionType::Spatial;
        if def.kind != DimensionType::Spatial {
            self.targets
                .entry(def.name.clone())
                .or_insert(Target::NONE)
                .dim = Some(slot);
        }
        self.dimensions.push(def);
    }

    /// Dimensions by slot.
    pub fn dimensions(&self) -> &[DimensionDef] {
        &self.dimensions
    }

    /// Dimension names by slot: of a new parser's schema, the spec's dimensions (none when
    /// schemaless), which a merge takes as its dimension order hint.
    pub fn dimension_names(&self) -> Vec<String> {
        self.dimensions.iter().map(|d| d.name.clone()).collect()
    }

    /// Metric input field names by slot.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The slot of a metric input field.
    pub fn field_slot(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    /// The slot of a dimension.
    pub fn dimension_slot(&self, name: &str) -> Option<usize> {
        self.dimensions.iter().position(|d| d.name == name)
    }

    /// The timestamp column name.
    pub fn timestamp_column(&self) -> &str {
        &self.timestamp_column
    }

    /// True when dimensions are discovered from the input.
    pub fn is_schemaless(&self) -> bool {
        self.schemaless
    }

    /// Routes a key; schemaless parsing registers a new dimension on first sight.
    pub(crate) fn target(&mut self, key: &str) -> Target {
        match self.targets.get(key) {
            Some(t) if !t.discoverable => return *t,
            Some(_) => {}
            None if !self.schemaless || self.exclusions.contains(key) => {
                if self.targets.len() < MAX_REMEMBERED_KEYS {
                    self.targets.insert(key.to_string(), Target::NONE);
                }
                return Target::NONE;
            }
            None => {}
        }
        self.push_dimension(DimensionDef {
            name: key.to_string(),
            kind: DimensionType::String,
            spatial_inputs: Vec::new(),
            multi_value_handling: MultiValueHandling::SortedArray,
        });
        let target = self.targets.get_mut(key).expect("pushed");
        target.discoverable = false;
        *target
    }

    /// True when some dimension is spatial (its value is assembled after the fields are read).
    pub(crate) fn has_spatial(&self) -> bool {
        self.spatial
    }
}
