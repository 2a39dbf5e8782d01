//! Outgoing mail (SPEC §16): what a flow sends, and the port that sends it. Sending happens off
//! the request path; a mail that cannot be sent is logged (without its text) and changes nothing
//! the client is told.

/// One plain-text mail. Its text holds a code or a link: never logged, never in `Debug`.
#[derive(Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .field("text", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Queues mail for sending; never blocks the request and never fails to the caller.
pub trait Mailer: Send + Sync {
    fn send(&self, mail: Mail);
}
