//! The dimension order of a merged segment.
//!
//! Every input lists its dimensions in the order its rows are sorted by. Hydrants of one sink
//! normally share one order with some dimensions left out (a dimension without values is
//! omitted), so the merged order is the one order every input is a subsequence of. It is found
//! by a topological sort of "comes before" constraints (consecutive names of each input); ties
//! (names no input relates) go by the caller's hint — the spec's dimension list, or the order
//! the ingest path discovered them in — then by first appearance.
//!
//! Inputs can disagree (a schemaless spec restarted, which discovers dimensions in a new order):
//! a constraint that would close a cycle is dropped, so earlier inputs win (hydrants come in
//! the order they were persisted). Druid falls back to a lexicographic order there and never
//! refuses the merge; neither do we: the inputs that do not follow the merged order are marked
//! so the merge re-sorts their rows.

use std::collections::HashMap;

/// The merged order and, per input, whether its rows already follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimensionOrder {
    /// Merged dimension names.
    pub names: Vec<String>,
    /// `conforming[i]`: input `i`'s order is a subsequence of `names`.
    pub conforming: Vec<bool>,
}

/// Merges the inputs' dimension orders (see the module doc); `hint` breaks ties.
pub fn merged_dimension_order(inputs: &[Vec<String>], hint: &[String]) -> DimensionOrder {
    let graph = Graph::build(inputs, hint);
    let names = graph.sort();
    let conforming = inputs
        .iter()
        .map(|dims| is_subsequence(dims, &names))
        .collect();
    DimensionOrder { names, conforming }
}

/// True when `part` appears in `whole` in the same relative order.
pub fn is_subsequence(part: &[String], whole: &[String]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|name| rest.any(|w| w == name))
}

/// Names, their tie-break priorities and "comes before" edges.
struct Graph {
    names: Vec<String>,
    /// Lower sorts first among names free to go next.
    priority: Vec<usize>,
    successors: Vec<Vec<usize>>,
    indegree: Vec<usize>,
}

impl Graph {
    fn build(inputs: &[Vec<String>], hint: &[String]) -> Graph {
        let mut graph = Graph {
            names: Vec::new(),
            priority: Vec::new(),
            successors: Vec::new(),
            indegree: Vec::new(),
        };
        let hinted: HashMap<&str, usize> = hint
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut ids: HashMap<String, usize> = HashMap::new();
        for dims in inputs {
            let mut previous_opt: Option<usize> = None;
            for name in dims {
                let id = *ids.entry(name.clone()).or_insert_with(|| {
                    let first_seen = graph.names.len();
                    graph.names.push(name.clone());
                    let rank = hinted.get(name.as_str()).copied();
                    graph.priority.push(rank.unwrap_or(hint.len() + first_seen));
                    graph.successors.push(Vec::new());
                    graph.indegree.push(0);
                    first_seen
                });
                if let Some(previous) = previous_opt
                    && previous != id
                    && !graph.successors[previous].contains(&id)
                    && !graph.reaches(id, previous)
                {
                    graph.successors[previous].push(id);
                    graph.indegree[id] += 1;
                }
                previous_opt = Some(id);
            }
        }
        graph
    }

    /// True when `to` can be reached from `from` along the edges.
    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = vec![false; self.names.len()];
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            if !std::mem::replace(&mut seen[node], true) {
                stack.extend(&self.successors[node]);
            }
        }
        false
    }

    /// Kahn's algorithm, lowest priority first among the names free to go (the graph has no
    /// cycle: `build` drops the edges that would close one).
    fn sort(mut self) -> Vec<String> {
        let count = self.names.len();
        let mut placed = vec![false; count];
        let mut order = Vec::with_capacity(count);
        while order.len() < count {
            let next = (0..count)
                .filter(|&i| !placed[i] && self.indegree[i] == 0)
                .min_by_key(|&i| self.priority[i])
                .expect("an acyclic graph always has a free name");
            placed[next] = true;
            for &successor in &self.successors[next] {
                self.indegree[successor] = self.indegree[successor].saturating_sub(1);
            }
            order.push(next);
        }
        order.into_iter().map(|i| self.names[i].clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inputs_with_omitted_dimensions_rebuild_the_shared_order() {
        // The order the old insertion heuristic got wrong: `tags` placed before `page`.
        let inputs = [
            names(&["tags", "n"]),
            names(&["page", "n"]),
            names(&["page", "tags", "n"]),
        ];
        let order = merged_dimension_order(&inputs, &[]);
        assert_eq!(order.names, names(&["page", "tags", "n"]));
        assert_eq!(order.conforming, [true, true, true]);
    }

    #[test]
    fn the_hint_decides_what_the_inputs_leave_open() {
        let inputs = [names(&["tags", "n"]), names(&["page", "n"])];
        let without = merged_dimension_order(&inputs, &[]);
        assert_eq!(without.names, names(&["tags", "page", "n"]));
        let with = merged_dimension_order(&inputs, &names(&["page", "tags", "n"]));
        assert_eq!(with.names, names(&["page", "tags", "n"]));
        assert_eq!(with.conforming, [true, true]);
    }

    #[test]
    fn on_conflict_the_earlier_input_wins_and_the_other_is_marked() {
        let inputs = [names(&["x", "y"]), names(&["z", "y", "x"]), names(&["w"])];
        let order = merged_dimension_order(&inputs, &[]);
        assert_eq!(order.names, names(&["x", "z", "y", "w"]));
        assert_eq!(order.conforming, [true, false, true]);
        // The hint only settles what the inputs leave open (here: z against x, w anywhere).
        let hinted = merged_dimension_order(&inputs, &names(&["w", "z", "y", "x"]));
        assert_eq!(hinted.names, names(&["w", "z", "x", "y"]));
        assert_eq!(hinted.conforming, [true, false, true]);
    }

    #[test]
    fn names_the_hint_does_not_know_keep_their_place() {
        let inputs = [names(&["a", "new", "b"])];
        let order = merged_dimension_order(&inputs, &names(&["b", "a"]));
        // The input's own constraints win over the hint: a < new < b.
        assert_eq!(order.names, names(&["a", "new", "b"]));
        assert!(is_subsequence(&names(&["a", "b"]), &order.names));
        assert!(!is_subsequence(&names(&["b", "a"]), &order.names));
    }
}
