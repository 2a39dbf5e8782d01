//! The `gatehouse` binary.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = gatehouse_server::cli::Cli::parse();
    let code = gatehouse_server::cli::run(cli).await;
    std::process::exit(code);
}
