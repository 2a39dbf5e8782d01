//! A TCP proxy a test can cut, to play an unreachable PostgreSQL.

use super::*;

/// A TCP proxy to PostgreSQL that a test can cut (every connection dropped, new ones refused)
/// and restore, to play an unreachable database.
pub(crate) struct CuttableProxy {
    pub port: u16,
    up: tokio::sync::watch::Sender<bool>,
    active: Arc<std::sync::atomic::AtomicUsize>,
}

impl CuttableProxy {
    pub(crate) async fn start(target: &'static str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let (up, watch) = tokio::sync::watch::channel(true);
        let active = Arc::new(AtomicUsize::new(0));
        let counter = active.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*watch.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut watch = watch.clone();
                let counter = counter.clone();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                        tokio::select! { _ = copy => {}, _ = watch.wait_for(|up| !*up) => {} }
                    }
                    counter.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { port, up, active }
    }

    /// Refuses new connections and returns once every open one is closed.
    pub(crate) async fn cut(&self) {
        let _ = self.up.send(false);
        while self.active.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) fn restore(&self) {
        let _ = self.up.send(true);
    }
}
