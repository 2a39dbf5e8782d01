//! The audit log's background work: verifying every chain on a schedule (incrementally, from
//! each chain's last verified head), writing the counts of coalesced anonymous events, and the
//! export sink — an append-only JSON-lines file per chain under `GATEHOUSE_AUDIT_EXPORT_DIR`.
//! Each batch is verified (continuing from the last exported event) before it is written; a
//! break stops that chain's export and records a security event. Verifications take one of the
//! instance's verification slots, waiting for it.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_core::audit::chain::{GENESIS, Verifier};
use gatehouse_core::audit::{Actor, Category, Chain, NewEvent, Outcome};
use gatehouse_core::service::audit::{VERIFY_PAGE, verify_chain, verify_new};
use gatehouse_core::service::{AuditService, ClientInfo};
use gatehouse_core::store::Store;
use serde_json::json;

use crate::config::Config;
use crate::supervisor::Supervisor;

/// Events written per export batch.
const EXPORT_BATCH: u32 = VERIFY_PAGE;
/// How often counted anonymous events are looked at (their windows last a minute).
const COALESCE_FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Starts the scheduled verification, the coalesced-event flush and, when configured, the
/// export sink under `supervisor`.
pub fn start(supervisor: &mut Supervisor, audit: AuditService, config: &Config) {
    if let Some(every) = config.audit_verify_every {
        supervisor.start("audit verification", verify_loop(audit.clone(), every));
    }
    supervisor.start("coalesced audit flush", flush_loop(audit.clone()));
    if let Some(dir) = config.audit_export_dir.clone() {
        supervisor.start(
            "audit export sink",
            export_loop(audit, dir, config.audit_export_every),
        );
    }
}

fn broken_event(action: &str, chain: Chain, first_bad: i64, at: time::OffsetDateTime) -> NewEvent {
    NewEvent::new(
        Chain::System,
        Category::Security,
        action,
        Actor::System,
        &ClientInfo::default(),
        at,
    )
    .outcome(Outcome::Failure)
    .details(json!({ "chain": chain.name(), "first_bad_seq": first_bad }))
}

async fn flush_loop(audit: AuditService) {
    let mut tick = tokio::time::interval(COALESCE_FLUSH_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = audit.flush_coalesced().await {
            tracing::warn!(error = %e, "writing coalesced audit events failed");
        }
    }
}

async fn verify_loop(audit: AuditService, every: Duration) {
    let store = audit.store().clone();
    let mut reported: HashSet<(String, i64)> = HashSet::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let chains = match store.chains().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "audit verification: cannot list chains");
                continue;
            }
        };
        for chain in chains {
            let Ok(_slot) = audit.verify_slot().await else {
                return;
            };
            match verify_new(store.as_ref(), chain).await {
                Ok(r) => match r.first_bad_seq {
                    Some(bad) if reported.insert((chain.name(), bad)) => {
                        tracing::error!(chain = %chain.name(), first_bad_seq = bad, "audit chain broken");
                        let _ = audit
                            .writer()
                            .append(vec![broken_event(
                                "audit.chain_broken",
                                chain,
                                bad,
                                audit.now(),
                            )])
                            .await;
                    }
                    _ => {}
                },
                Err(e) => {
                    tracing::warn!(chain = %chain.name(), error = %e, "audit verification failed")
                }
            }
        }
    }
}

async fn export_loop(audit: AuditService, dir: PathBuf, every: Duration) {
    let store = audit.store().clone();
    let mut stopped: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Ok(chains) = store.chains().await else {
            continue;
        };
        for chain in chains {
            if stopped.contains(&chain.name()) {
                continue;
            }
            let Ok(_slot) = audit.verify_slot().await else {
                return;
            };
            match export_new(store.as_ref(), chain, &dir).await {
                Ok(ExportOutcome::Written(_)) => {}
                Ok(ExportOutcome::Broken(bad)) => {
                    stopped.insert(chain.name());
                    tracing::error!(chain = %chain.name(), first_bad_seq = bad, "audit export stopped: chain broken");
                    let _ = audit
                        .writer()
                        .append(vec![broken_event(
                            "audit.export_stopped",
                            chain,
                            bad,
                            audit.now(),
                        )])
                        .await;
                }
                Err(e) => tracing::warn!(chain = %chain.name(), error = %e, "audit export failed"),
            }
        }
    }
}

/// What one export round did for a chain.
#[derive(Debug, PartialEq, Eq)]
pub enum ExportOutcome {
    /// This many new events were appended.
    Written(u64),
    /// Nothing written: the chain breaks at this `seq`.
    Broken(i64),
}

/// `<dir>/<chain>.jsonl` through the path guard (no unsafe name, no symlink leading out), and
/// a regular file if it exists.
pub fn export_path(dir: &Path, chain: Chain) -> Result<PathBuf, String> {
    let name = format!("{}.jsonl", chain.name());
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = gatehouse_core::paths::resolve_under(dir, &name).map_err(|e| e.to_string())?;
    if let Ok(meta) = std::fs::symlink_metadata(&path)
        && !meta.file_type().is_file()
    {
        return Err(format!("{} is not a regular file", path.display()));
    }
    Ok(path)
}

/// The (seq, hash) of the last event already in an export file.
fn last_exported(path: &Path) -> Result<Option<(i64, String)>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut last = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let Some(line) = last else { return Ok(None) };
    let v: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| format!("{}: last line: {e}", path.display()))?;
    match (v["seq"].as_i64(), v["hash"].as_str()) {
        (Some(seq), Some(hash)) => Ok(Some((seq, hash.to_owned()))),
        _ => Err(format!("{}: last line has no seq/hash", path.display())),
    }
}

/// Appends the chain's events that are not yet in its export file. When there is anything new,
/// the whole chain is verified first (an edit to an event exported long ago stops the sink as
/// surely as one to a new event), then the new events are checked to continue the file.
pub async fn export_new(
    store: &dyn Store,
    chain: Chain,
    dir: &Path,
) -> Result<ExportOutcome, String> {
    let path = export_path(dir, chain)?;
    let (mut seq, hash) = last_exported(&path)?.unwrap_or((0, GENESIS.to_owned()));
    let head = store.chain_head(chain).await.map_err(|e| e.to_string())?;
    if head.is_none_or(|(head_seq, _)| head_seq <= seq) {
        return Ok(ExportOutcome::Written(0));
    }
    let whole = verify_chain(store, chain)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(bad) = whole.first_bad_seq {
        return Ok(ExportOutcome::Broken(bad));
    }
    let mut verifier = Verifier::resume(seq, &hash);
    let mut written = 0;
    loop {
        let batch = store
            .chain_events(chain, seq, EXPORT_BATCH, None)
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(ExportOutcome::Written(written));
        }
        for e in &batch {
            if !verifier.push_event(e) {
                return Ok(ExportOutcome::Broken(
                    verifier.report().first_bad_seq.unwrap_or(e.seq),
                ));
            }
        }
        let mut file = open_append(&path)?;
        let mut text = String::new();
        for e in &batch {
            text.push_str(&e.to_json_text());
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        file.sync_data().map_err(|e| e.to_string())?;
        written += batch.len() as u64;
        seq = batch.last().map(|e| e.seq).unwrap_or(seq);
        if (batch.len() as u32) < EXPORT_BATCH {
            return Ok(ExportOutcome::Written(written));
        }
    }
}

fn open_append(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}
