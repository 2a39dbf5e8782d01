//! Where each audit export sink stands in each chain: the last acknowledged event, and whether
//! the sink stopped at a break. Only ever moves forward.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::{Chain, NewEvent};

/// A sink's position in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportCursor {
    /// The last event the receiver acknowledged (0 before any).
    pub seq: i64,
    /// That event's hash (the genesis hash before any).
    pub hash: String,
    /// Where the chain was found broken, once it was: the sink delivers nothing more from it.
    pub stopped_seq: Option<i64>,
}

#[async_trait]
pub trait ExportCursorStore: Send + Sync {
    /// The sink's cursor in `chain`; `None` before its first acknowledged batch.
    async fn export_cursor(&self, sink: &str, chain: Chain) -> Result<Option<ExportCursor>>;
    /// Records an acknowledged batch ending at (`seq`, `hash`); an older position is ignored.
    async fn record_exported(
        &self,
        sink: &str,
        chain: Chain,
        seq: i64,
        hash: &str,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// Stops the sink for `chain`, which breaks at `bad_seq`, and appends `audit` (the
    /// `audit.export_stopped` event) in the same transaction.
    async fn record_export_stopped(
        &self,
        sink: &str,
        chain: Chain,
        bad_seq: i64,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()>;
}
