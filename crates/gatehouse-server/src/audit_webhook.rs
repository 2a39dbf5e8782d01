//! The audit webhook sink (SPEC §12): every chain's new events POSTed as JSON arrays in `seq`
//! order through the guarded outbound client, signed with `X-Gatehouse-Signature`, the cursor
//! moved only on a `2xx` (at-least-once; a restart resumes after the last acknowledged event).
//! After a failed round the sink waits longer each time (doubling from `AUDIT_WEBHOOK_EVERY`
//! up to five minutes); the sink runs beside requests, never in their way. A broken chain stops the sink
//! for that chain, with the security event `audit.export_stopped`.

use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::audit::Chain;
use gatehouse_core::audit::signature::{SIGNATURE_HEADER, sign};
use gatehouse_core::clock::unix;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::AuditService;
use gatehouse_core::service::audit_export::{Deliver, RoundOutcome, backoff, export_round};

use crate::app::StartError;
use crate::config::{Config, ConfigError, WebhookConfig};
use crate::outbound::OutboundClient;
use crate::supervisor::Supervisor;

/// The sink's name in the export cursors.
pub const SINK: &str = "webhook";
/// The longest wait between failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Starts the sink under `supervisor` when `GATEHOUSE_AUDIT_WEBHOOK_URL` is set.
pub fn start(
    supervisor: &mut Supervisor,
    audit: AuditService,
    config: &Config,
) -> Result<(), StartError> {
    let Some(webhook) = config.audit_webhook.clone() else {
        return Ok(());
    };
    let mut settings = config.outbound.clone();
    settings.follow_redirects = false; // a 3xx is a failed delivery, retried
    let client = OutboundClient::new(settings)
        .map_err(|why| StartError::Config(ConfigError(format!("outbound client: {why}"))))?;
    supervisor.start("audit webhook sink", run(audit, client, webhook));
    Ok(())
}

/// POSTs one batch, signed at the time of sending.
struct Poster {
    client: OutboundClient,
    webhook: WebhookConfig,
    audit: AuditService,
}

#[async_trait]
impl Deliver for Poster {
    async fn deliver(&self, chain: Chain, body: Vec<u8>) -> Result<(), String> {
        let t = unix(self.audit.now());
        let signature = sign(self.webhook.secret.expose_secret().as_bytes(), t, &body);
        let headers = [
            ("content-type", "application/json".to_owned()),
            (SIGNATURE_HEADER, signature),
            ("x-gatehouse-chain", chain.name()),
        ];
        let answer = self
            .client
            .post(&self.webhook.url, &headers, body)
            .await
            .map_err(|e| e.to_string())?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", answer.status))
        }
    }
}

async fn run(audit: AuditService, client: OutboundClient, webhook: WebhookConfig) {
    let store = audit.store().clone();
    let every = webhook.every;
    let batch = webhook.batch;
    let poster = Poster {
        client,
        webhook,
        audit: audit.clone(),
    };
    let mut failures: u32 = 0;
    loop {
        let mut failed = false;
        let chains = match store.chains().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "audit webhook: cannot list chains");
                Vec::new()
            }
        };
        for chain in chains {
            match export_round(&audit, SINK, chain, batch, &poster).await {
                Ok(RoundOutcome::Delivered(_)) => {}
                Ok(RoundOutcome::Stopped(bad)) => {
                    tracing::error!(chain = %chain.name(), first_bad_seq = bad, "audit webhook stopped: chain broken");
                }
                Ok(RoundOutcome::Failed { reason, .. }) => {
                    tracing::warn!(chain = %chain.name(), reason = %reason, failures = failures + 1, "audit webhook delivery failed; backing off");
                    failed = true;
                    break; // The endpoint is down for every chain: wait before trying again.
                }
                Err(e) => {
                    tracing::warn!(chain = %chain.name(), error = %e, "audit webhook round failed")
                }
            }
        }
        failures = if failed {
            failures.saturating_add(1)
        } else {
            0
        };
        // After one failure the next try comes at the usual time, then twice as late, ...
        let wait = backoff(every, failures.saturating_sub(1), MAX_BACKOFF);
        tokio::time::sleep(wait).await;
    }
}
