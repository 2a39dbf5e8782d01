//! `gatehouse secrets reencrypt`: re-seals what older master secrets sealed under the current
//! one, with a progress bar on stderr and the counts on stdout. Exit 0 when everything is now
//! sealed by the current secret, 1 when some value opened with no configured secret (or on a
//! database error), 2 for configuration refusals.

use gatehouse_core::ambient::Ambient;
use gatehouse_core::service::reencrypt::{Progress, reencrypt as run_reencrypt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app;
use crate::cli_support::{fail, open_for_cli};
use crate::config::Config;

/// A bar on stderr (hidden when stderr is not a terminal; the counts are printed either way).
struct Bar(ProgressBar);

impl Progress for Bar {
    fn total(&self, values: u64) {
        self.0.set_length(values);
    }

    fn advance(&self, values: u64) {
        self.0.inc(values);
    }
}

pub(crate) async fn reencrypt(config: Config, batch: u32) -> i32 {
    if batch == 0 {
        eprintln!("error: --batch must be at least 1");
        return 2;
    }
    let (config, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let keyring = match app::keyring(&config) {
        Ok(k) => k,
        Err(e) => return fail(&e),
    };
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("re-sealing {bar:40} {pos}/{len} ({per_sec}, {eta} left)")
    {
        bar.set_style(style);
    }
    let progress = Bar(bar);
    let result = run_reencrypt(
        opened.store.as_ref(),
        &keyring,
        &Ambient::system(),
        batch,
        &progress,
    )
    .await;
    progress.0.finish_and_clear();
    match result {
        Ok(counts) => {
            println!(
                "{}",
                serde_json::json!({
                    "secrets": counts.secrets,
                    "signing_keys": counts.signing_keys,
                    "totp_seeds": counts.totp_seeds,
                    "unopenable": counts.unopenable,
                })
            );
            eprintln!(
                "re-sealed {} secret versions, {} signing keys and {} TOTP seeds under the current \
                 master secret{}",
                counts.secrets,
                counts.signing_keys,
                counts.totp_seeds,
                if counts.unopenable > 0 {
                    format!(
                        "; {} values open with no configured secret (see the log) — keep the \
                         previous secrets until they are dealt with",
                        counts.unopenable
                    )
                } else {
                    "; the previous secrets can now be removed".to_owned()
                }
            );
            i32::from(counts.unopenable > 0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
