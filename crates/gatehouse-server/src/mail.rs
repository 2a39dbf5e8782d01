//! Sending mail over SMTP with `lettre` (rustls), off the request path: a flow hands its mail to
//! the queue and answers at once; a worker sends each mail, retrying a failed one three times
//! (after 2, 10 and 30 seconds). A failure is logged with the error and never the mail's text;
//! the client's answer never depends on it. The queue is in memory: mail queued when the process
//! dies is lost, and the flow it carried simply lapses (the user asks again).

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::mail::{Mail, Mailer};
use gatehouse_core::secret::ExposeSecret;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::supervisor::Supervisor;

/// Mails waiting at most; past it a new one is dropped (and logged).
const QUEUE: usize = 1024;
/// The waits before each retry of a mail that did not go out.
const RETRIES: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// The queue's sending end.
pub struct SmtpMailer {
    queue: mpsc::Sender<Mail>,
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) {
        if self.queue.try_send(mail).is_err() {
            tracing::error!("mail not sent: the queue is full");
        }
    }
}

fn transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match config.security {
        SmtpSecurity::StartTls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|e| e.to_string())?
        }
        SmtpSecurity::Implicit => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(|e| e.to_string())?
        }
        SmtpSecurity::Insecure => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        }
    };
    let mut builder = builder
        .port(config.port)
        .timeout(Some(Duration::from_secs(15)));
    if let (Some(user), Some(password)) = (&config.user, &config.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// Starts the sender; its queue for the services.
pub fn start(config: &SmtpConfig, supervisor: &mut Supervisor) -> Result<Arc<SmtpMailer>, String> {
    let from: Mailbox = config
        .from
        .parse()
        .map_err(|_| "GATEHOUSE_SMTP_FROM: not an address".to_owned())?;
    let transport = transport(config)?;
    let (queue, mut waiting) = mpsc::channel::<Mail>(QUEUE);
    supervisor.start("mail sender", async move {
        while let Some(mail) = waiting.recv().await {
            let transport = transport.clone();
            let from = from.clone();
            tokio::spawn(async move { deliver(&transport, from, mail).await });
        }
    });
    Ok(Arc::new(SmtpMailer { queue }))
}

async fn deliver(transport: &AsyncSmtpTransport<Tokio1Executor>, from: Mailbox, mail: Mail) {
    let Ok(to) = mail.to.parse::<Mailbox>() else {
        tracing::error!("mail not sent: the recipient is not an address lettre accepts");
        return;
    };
    let message = match Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .body(mail.text.clone())
    {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "mail not sent: it could not be built");
            return;
        }
    };
    let mut waits = RETRIES.iter();
    loop {
        match transport.send(message.clone()).await {
            Ok(_) => {
                tracing::debug!(subject = %mail.subject, "mail sent");
                return;
            }
            Err(e) => {
                let Some(wait) = waits.next() else {
                    tracing::error!(error = %e, subject = %mail.subject, "mail not sent: giving up");
                    return;
                };
                tracing::warn!(error = %e, subject = %mail.subject, "mail not sent yet; retrying");
                tokio::time::sleep(*wait).await;
            }
        }
    }
}
