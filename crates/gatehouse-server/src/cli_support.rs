//! What every CLI command shares: opening the database as `serve` would, and failing with the
//! right exit code. Its own module so that `cli` and `audit_cli` both use it without depending
//! on each other.

use crate::app::{self, StartError};
use crate::config::Config;

/// Prints the error and gives the process exit code it stands for.
pub(crate) fn fail(e: &StartError) -> i32 {
    eprintln!("error: {e}");
    e.exit_code()
}

/// Opens the database as `serve` would (checks, migrations, role).
pub(crate) async fn open_for_cli(
    mut config: Config,
) -> Result<(Config, gatehouse_store::Opened), StartError> {
    app::check_config(&mut config)?;
    let opened = app::open_database(&config).await?;
    Ok((config, opened))
}
