//! gatehouse-server: HTTP, configuration and the CLI around the core and the store.

pub mod app;
pub mod audit_cli;
pub mod audit_tasks;
pub mod audit_webhook;
pub mod cli;
mod cli_support;
pub mod config;
pub mod console;
pub mod doctor;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod json;
pub mod log_pipe;
pub mod mail;
pub mod middleware;
pub mod net;
pub mod oidc_http;
pub mod openapi;
pub mod outbound;
pub mod routes;
mod secrets_cli;
pub mod serve;
pub mod state;
pub mod supervisor;
pub mod telemetry;
