//! The memory capability: one per-call budget, derived from `memory-mib`, for everything a
//! plugin can make this process hold, not only its own linear memory.
//!
//! With `memory-mib = M`:
//! - the plugin's WebAssembly memories and tables, all of them together, hold at most M;
//! - the host holds at most M/2 of HTTP bodies for it (responses buffered until the plugin
//!   drops them, request bodies being sent), charged as they arrive and released when dropped;
//! - and at most [`MemoryBudget::resources`] host resources at once (headers, requests,
//!   bodies, streams, pollables), each bounded (a header map by [`FIELD_SIZE_LIMIT`], a body
//!   write buffer by two [`OUTGOING_CHUNK_BYTES`] chunks, anything copied in one host call by
//!   [`HOSTCALL_BYTES`]), so that all of them together hold about M/2 (at least
//!   [`MIN_RESOURCES`] resources, for a tiny M).
//!
//! So a call holds at most about 2 × M for the plugin. Exceeding any part ends the call with
//! the memory-limit error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Largest header map (names, values and their in-memory overhead) a plugin may build.
pub const FIELD_SIZE_LIMIT: usize = 32 << 10;
/// Largest write into a request body stream; two such chunks are buffered per body.
pub const OUTGOING_CHUNK_BYTES: usize = 16 << 10;
/// Most bytes a plugin may pass to the host in one call (a string, a list).
pub const HOSTCALL_BYTES: usize = 64 << 10;
/// What one host resource can hold at most: a request's header map, authority, path,
/// method and scheme, each at most a host call's worth, or a body's write buffer.
const RESOURCE_BYTES: usize = FIELD_SIZE_LIMIT + 4 * HOSTCALL_BYTES;
/// Host resources a call may hold at once, whatever its memory limit.
pub const MIN_RESOURCES: usize = 64;
const MAX_RESOURCES: usize = 4096;
/// Host-side cost charged per WebAssembly table element.
const TABLE_ELEMENT_BYTES: usize = 16;

/// What exceeded the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The plugin's memories and tables.
    Wasm,
    /// HTTP bodies the host holds for the plugin.
    Bodies,
    /// The host resources it holds at once.
    Resources,
}

impl Exceeded {
    /// What the memory-limit error adds about the cause.
    pub fn detail(self, budget: &MemoryBudget) -> String {
        match self {
            Exceeded::Wasm => String::new(),
            Exceeded::Bodies => {
                format!(": HTTP bodies held for it passed {} MiB (half its limit)", budget.body_limit() >> 20)
            }
            Exceeded::Resources => {
                format!(
                    ": it held more than {} host resources (headers, requests, streams) at once",
                    budget.resources()
                )
            }
        }
    }
}

/// The memory budget of one plugin call.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    wasm: AtomicUsize,
    bodies: AtomicUsize,
    /// 0: within budget; else 1 + the [`Exceeded`] variant.
    exceeded: AtomicU8,
}

impl MemoryBudget {
    pub fn new(memory_mib: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit: (memory_mib as usize) << 20,
            wasm: AtomicUsize::new(0),
            bodies: AtomicUsize::new(0),
            exceeded: AtomicU8::new(0),
        })
    }

    /// How many host resources the plugin may hold at once.
    pub fn resources(&self) -> usize {
        (self.limit / 2 / RESOURCE_BYTES).clamp(MIN_RESOURCES, MAX_RESOURCES)
    }

    /// Most bytes of HTTP bodies the host holds for the plugin at once.
    pub fn body_limit(&self) -> usize {
        self.limit / 2
    }

    /// Charges `bytes` of memory or table growth; `false` (and the call is over) when the
    /// plugin's memories and tables would pass the limit.
    pub fn grow_wasm(&self, bytes: usize) -> bool {
        let total = self.wasm.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        total <= self.limit || self.exceed(Exceeded::Wasm)
    }

    /// Charges `elements` more WebAssembly table elements.
    pub fn grow_table(&self, elements: usize) -> bool {
        self.grow_wasm(elements.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    /// Starts charging a body the host buffers; empty until [`Held::grow`].
    pub fn hold(self: &Arc<Self>) -> Held {
        Held { budget: self.clone(), bytes: 0 }
    }

    /// Records that the plugin went over budget; always `false`, for the callers' return.
    pub fn exceed(&self, what: Exceeded) -> bool {
        let _ = self.exceeded.compare_exchange(0, what as u8 + 1, Ordering::Relaxed, Ordering::Relaxed);
        false
    }

    /// What went over budget first, if anything did.
    pub fn exceeded(&self) -> Option<Exceeded> {
        match self.exceeded.load(Ordering::Relaxed) {
            1 => Some(Exceeded::Wasm),
            2 => Some(Exceeded::Bodies),
            3 => Some(Exceeded::Resources),
            _ => None,
        }
    }
}

/// Body bytes charged to a budget, released when this is dropped (with the body).
#[derive(Debug)]
pub struct Held {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Held {
    /// Charges `bytes` more; `false` (and the call is over) when the bodies held for the
    /// plugin would pass their share of the budget.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let total = self.budget.bodies.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        self.bytes += bytes;
        total <= self.budget.body_limit() || self.budget.exceed(Exceeded::Bodies)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.bodies.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_memories_and_tables_together_are_held_to_the_limit() {
        let budget = MemoryBudget::new(16);
        // Two memories of 10 MiB each: each within the limit, together over it.
        assert!(budget.grow_wasm(10 << 20));
        assert_eq!(budget.exceeded(), None);
        assert!(!budget.grow_wasm(10 << 20));
        assert_eq!(budget.exceeded(), Some(Exceeded::Wasm));

        let tables = MemoryBudget::new(1);
        assert!(tables.grow_table(1000));
        assert!(!tables.grow_table(1 << 20));
        assert_eq!(tables.exceeded(), Some(Exceeded::Wasm));
    }

    #[test]
    fn bodies_are_charged_while_held_and_released_when_dropped() {
        let budget = MemoryBudget::new(16);
        let mut first = budget.hold();
        assert!(first.grow(6 << 20));
        let mut second = budget.hold();
        assert!(second.grow(2 << 20), "8 MiB together: half of 16");
        drop(first);
        let mut third = budget.hold();
        assert!(third.grow(6 << 20), "the first body's bytes were released");
        assert_eq!(budget.exceeded(), None);
        assert!(!third.grow(1));
        assert_eq!(budget.exceeded(), Some(Exceeded::Bodies));
    }

    #[test]
    fn the_first_cause_is_kept() {
        let budget = MemoryBudget::new(1);
        budget.exceed(Exceeded::Resources);
        budget.exceed(Exceeded::Wasm);
        assert_eq!(budget.exceeded(), Some(Exceeded::Resources));
    }

    #[test]
    fn resources_scale_with_the_limit_within_bounds() {
        assert_eq!(MemoryBudget::new(1).resources(), MIN_RESOURCES);
        assert_eq!(MemoryBudget::new(64).resources(), (32 << 20) / RESOURCE_BYTES);
        assert_eq!(MemoryBudget::new(4096).resources(), MAX_RESOURCES);
        // What all resources can hold stays near half the limit once past the floor.
        let budget = MemoryBudget::new(256);
        assert!(budget.resources() * RESOURCE_BYTES <= budget.limit / 2);
    }
}
