//! `gatehouse audit verify` and `gatehouse audit export`.

use std::io::Write;
use std::path::Path;

use gatehouse_core::audit::Chain;
use gatehouse_core::audit::chain::Verifier;
use gatehouse_core::service::audit::{VERIFY_PAGE, verify_chain};

use crate::cli_support::{fail, open_for_cli};
use crate::config::Config;

fn parse_chain(org: &str) -> Option<Chain> {
    Chain::parse(org.trim())
}

/// Exit 0 when every chain (or the one asked for) verifies; 1 at the first break.
pub async fn verify(config: Config, org: Option<&str>) -> i32 {
    let (_, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let chains = match org {
        Some(o) => {
            if let Some(c) = parse_chain(o) {
                vec![c]
            } else {
                eprintln!("error: --org: not an org id: {o:?}");
                return 2;
            }
        }
        None => match opened.store.chains().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        },
    };
    let mut broken = false;
    for chain in chains {
        match verify_chain(opened.store.as_ref(), chain).await {
            Ok(r) if r.valid => println!(
                "chain {}: valid, {} events, head seq {}",
                chain.name(),
                r.events,
                r.head_seq
            ),
            Ok(r) => {
                broken = true;
                let bad = r.first_bad_seq.unwrap_or(0);
                println!(
                    "chain {}: BROKEN: first bad seq {bad} ({} events verify before it)",
                    chain.name(),
                    r.events
                );
            }
            Err(e) => {
                eprintln!("error: chain {}: {e}", chain.name());
                return 1;
            }
        }
    }
    i32::from(broken)
}

/// Writes every event of the chain as a JSON line; exit 1 (after writing) if the chain is broken.
pub async fn export(config: Config, org: &str, out: Option<&Path>) -> i32 {
    let Some(chain) = parse_chain(org) else {
        eprintln!("error: --org: not an org id: {org:?}");
        return 2;
    };
    let (_, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let mut sink: Box<dyn Write> = match out {
        None => Box::new(std::io::stdout().lock()),
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
            {
                Ok(f) => Box::new(std::io::BufWriter::new(f)),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return 1;
                }
            }
        }
    };
    let mut verifier = Verifier::new();
    let mut after = 0;
    loop {
        let page = match opened
            .store
            .chain_events(chain, after, VERIFY_PAGE, None)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            verifier.push_event(e);
            if writeln!(sink, "{}", e.to_json_text()).is_err() {
                eprintln!("error: writing the export failed");
                return 1;
            }
        }
    }
    if sink.flush().is_err() {
        eprintln!("error: writing the export failed");
        return 1;
    }
    match verifier.report().first_bad_seq {
        None => 0,
        Some(bad) => {
            eprintln!(
                "warning: chain {} is broken: first bad seq {bad}",
                chain.name()
            );
            1
        }
    }
}
